"""Words the demo data is made of: people, sites, page titles, job names and scraping errors.

Hosts end in ``.example`` (reserved by RFC 2606), so no demo URL points at a real site. The demo users'
addresses share one reserved domain, which is also how a database is known to hold demo data.
"""

from __future__ import annotations

DEMO_EMAIL_DOMAIN = "demo.stratlogic.example"

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Anja", "Aiko", "Bruno", "Camille", "Carlos", "Chen", "Dana", "Diego", "Elena",
    "Emeka", "Emma", "Farid", "Fatima", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jana", "Jonas", "Julia",
    "Kai", "Kenji", "Lara", "Leila", "Liam", "Lucia", "Mateo", "Maya", "Mei", "Mila", "Nadia", "Noah",
    "Olga", "Omar", "Paula", "Pedro", "Priya", "Rafael", "Rosa", "Sami", "Sara", "Sofia", "Tariq", "Tomas",
    "Uma", "Vera", "Viktor", "Wen", "Yara", "Yusuf", "Zoe", "Marek", "Ingrid", "Henrik", "Chloe", "Ravi",
)
LAST_NAMES = (
    "Adeyemi", "Almeida", "Andersen", "Bauer", "Becker", "Bianchi", "Brown", "Chen", "Costa", "Dubois",
    "Eriksson", "Fischer", "Garcia", "Gomez", "Haddad", "Hansen", "Hoffmann", "Ito", "Jansen", "Jovanovic",
    "Kim", "Kowalski", "Kumar", "Larsen", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Muller", "Nakamura",
    "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Petrov", "Rossi", "Santos", "Schmidt", "Silva",
    "Singh", "Smith", "Tanaka", "Taylor", "Vargas", "Wagner", "Wang", "Weber", "Williams", "Yilmaz", "Zhang",
)

#: Languages of the sites, with how common they are.
LANGUAGES = (("en", 50), ("de", 14), ("fr", 10), ("es", 8), ("it", 5), ("nl", 4), ("pt", 3), ("ja", 3),
             ("pl", 3))
SECTORS = ("shop", "news", "travel", "jobs", "realestate", "forum", "docs", "gov")
BRANDS = (
    "northwind", "contoso", "fabrikam", "tailspin", "wingtip", "adventureworks", "litware", "proseware",
    "lucerne", "margie", "fourthcoffee", "woodgrove", "alpine", "blueyonder", "coho", "graphicdesign",
    "humongous", "nod", "southridge", "trey", "wideworld", "datum", "relecloud", "bellows", "consolidated",
    "fineart", "vanarsdel", "lamna", "munson", "firstup", "tailwind", "cronus", "skyline", "redwood",
    "silverline", "greenleaf", "harbor", "summit", "riverside", "oakmont",
)
SECTOR_WORDS = {
    "shop": ("store", "shop", "outlet", "market"), "news": ("times", "herald", "post", "daily"),
    "travel": ("travel", "trips", "hotels", "flights"), "jobs": ("careers", "jobs", "hiring", "talent"),
    "realestate": ("homes", "estates", "lettings", "property"), "forum": ("forum", "community", "talk", "board"),
    "docs": ("docs", "developer", "help", "wiki"), "gov": ("council", "registry", "statistics", "portal"),
}
PATHS = {
    "shop": ("/products/{slug}", "/category/{slug}", "/deals", "/search?q={slug}", "/brands/{slug}"),
    "news": ("/news/{year}/{slug}", "/politics", "/business/{slug}", "/sport", "/rss.xml"),
    "travel": ("/hotels/{slug}", "/flights/{slug}", "/destinations/{slug}", "/offers"),
    "jobs": ("/jobs/{slug}", "/search?role={slug}", "/companies/{slug}"),
    "realestate": ("/for-sale/{slug}", "/to-rent/{slug}", "/agents/{slug}"),
    "forum": ("/t/{slug}", "/c/{slug}", "/latest"),
    "docs": ("/docs/{slug}", "/api/{slug}", "/changelog"),
    "gov": ("/datasets/{slug}", "/publications/{year}/{slug}", "/notices"),
}
SLUGS = ("running-shoes", "laptops", "garden-tools", "coffee-machines", "energy-prices", "elections",
         "interest-rates", "city-breaks", "lisbon", "tokyo", "data-engineer", "nurse", "two-bedroom",
         "studio-flat", "release-notes", "authentication", "population", "air-quality", "football",
         "smartphones", "winter-jackets", "electric-bikes", "housing-market", "remote", "berlin")
#: Page titles by language: a word for the page and a word for the section.
TITLE_WORDS = {
    "en": ("Home", "Latest", "Offers", "Search results", "Overview", "Details"),
    "de": ("Startseite", "Aktuell", "Angebote", "Suchergebnisse", "Übersicht", "Details"),
    "fr": ("Accueil", "Actualités", "Offres", "Résultats", "Aperçu", "Détails"),
    "es": ("Inicio", "Noticias", "Ofertas", "Resultados", "Resumen", "Detalles"),
    "it": ("Home", "Notizie", "Offerte", "Risultati", "Panoramica", "Dettagli"),
    "nl": ("Home", "Nieuws", "Aanbiedingen", "Zoekresultaten", "Overzicht", "Details"),
    "pt": ("Início", "Notícias", "Ofertas", "Resultados", "Visão geral", "Detalhes"),
    "ja": ("ホーム", "ニュース", "セール", "検索結果", "概要", "詳細"),
    "pl": ("Strona główna", "Aktualności", "Oferty", "Wyniki", "Przegląd", "Szczegóły"),
}

#: Job kinds: (kind, weight, median seconds running, spread (sigma of the log), median pages).
KINDS = (("scrape", 58, 40, 1.0, 6), ("crawl", 22, 420, 1.2, 120), ("sitemap", 8, 150, 0.9, 400),
         ("api", 7, 20, 0.8, 12), ("screenshot", 5, 12, 0.6, 1))
JOB_NAMES = {
    "scrape": ("Prices {host}", "Product listing {host}", "Headlines {host}", "Listings {host}"),
    "crawl": ("Full crawl {host}", "Section crawl {host}", "Link check {host}"),
    "sitemap": ("Sitemap {host}", "Sitemap refresh {host}"),
    "api": ("API export {host}", "Feed sync {host}"),
    "screenshot": ("Screenshot {host}", "Visual check {host}"),
}

#: Scraping errors: (error_type, message, retryable, weight). ``{host}``/``{path}`` are filled in.
ERRORS = (
    ("Timeout", "read timed out after 30 s fetching https://{host}{path}", True, 24),
    ("Timeout", "connect timed out after 10 s to {host}:443", True, 8),
    ("HTTPError", "HTTP 503 Service Unavailable from https://{host}{path}", True, 10),
    ("HTTPError", "HTTP 502 Bad Gateway from https://{host}{path}", True, 5),
    ("RateLimited", "HTTP 429 Too Many Requests from {host}; Retry-After 120", True, 8),
    ("ConnectionError", "connection reset by peer while reading https://{host}{path}", True, 6),
    ("DNSError", "name resolution failed for {host}", True, 3),
    ("HTTPError", "HTTP 404 Not Found: https://{host}{path}", False, 14),
    ("HTTPError", "HTTP 403 Forbidden: https://{host}{path}", False, 9),
    ("ParseError", "unexpected markup at line 2114 of https://{host}{path}: no element matched 'div.listing'",
     False, 8),
    ("RobotsDisallowed", "robots.txt of {host} disallows {path} for StratLogicBot/1.0", False, 3),
    ("SSLError", "certificate verify failed for {host}: certificate has expired", False, 2),
)
#: A worker that stopped heartbeating: its lease runs out and the next claim recovers the job.
LEASE_EXPIRED = "lease_expired"

__all__ = ["BRANDS", "DEMO_EMAIL_DOMAIN", "ERRORS", "FIRST_NAMES", "JOB_NAMES", "KINDS", "LANGUAGES", "LAST_NAMES",
           "LEASE_EXPIRED", "PATHS", "SECTORS", "SECTOR_WORDS", "SLUGS", "TITLE_WORDS"]
