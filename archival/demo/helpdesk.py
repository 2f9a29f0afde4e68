"""Generate the demo helpdesk database: deterministic (fixed seed, fixed clock), shaped like the
SQLite file of a NocoDB base: `id` integer keys, `created_at`/`updated_at` set by the app in UTC
without a zone (updated_at NULL until the first edit), mixed-case physical columns derived from field
titles, comma-joined multi-selects, JSON fields as text, long text with newlines and emoji, a
many-to-many junction with a composite key, soft deletes (`deleted_at`) next to hard deletes.

    python -m archival.demo.helpdesk data/helpdesk.db [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path

SEED = 77031
START = datetime(2024, 11, 1)
END = datetime(2026, 11, 1)  # two years of history; fixed so the demo archive is reproducible
SPAN = (END - START).total_seconds()

SCHEMA = """
CREATE TABLE agents (
  id INTEGER PRIMARY KEY, title TEXT NOT NULL, email TEXT NOT NULL, team TEXT, "Hire_Date" DATE,
  active BOOLEAN NOT NULL, created_at DATETIME, updated_at DATETIME);
CREATE TABLE customers (
  id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT, company TEXT, country TEXT, profile JSON,
  created_at DATETIME, updated_at DATETIME, deleted_at DATETIME);
CREATE TABLE labels (id INTEGER PRIMARY KEY, title TEXT, color TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE tickets (
  id INTEGER PRIMARY KEY, title TEXT, description TEXT, status TEXT, priority TEXT, tags TEXT,
  sla_hours NUMERIC, "First_Response__min_" BIGINT, customers_id INTEGER, agents_id INTEGER,
  opened_at DATETIME, closed_at DATETIME, created_at DATETIME, updated_at DATETIME, deleted_at DATETIME);
CREATE TABLE ticket_comments (
  id INTEGER PRIMARY KEY, tickets_id INTEGER, agents_id INTEGER, body TEXT, is_internal BOOLEAN,
  created_at DATETIME, updated_at DATETIME);
CREATE TABLE _nc_m2m_tickets_labels (tickets_id INTEGER NOT NULL, labels_id INTEGER NOT NULL,
  PRIMARY KEY (tickets_id, labels_id));
CREATE INDEX fk_tickets_customers ON tickets (customers_id);
CREATE INDEX idx_tickets_updated ON tickets (updated_at);
CREATE INDEX idx_tickets_created ON tickets (created_at);
CREATE INDEX idx_comments_created ON ticket_comments (created_at);
"""

FIRST = ["Ada", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hana", "Ilse", "João", "Kofi",
         "Léa", "Mateus", "Nour", "Olga", "Priya", "Quentin", "Rania", "Søren", "Tomás", "Uma", "Wei", "Yusuf", "Zoë"]
LAST = ["Andersen", "Brown", "Çelik", "Dubois", "Eriksson", "García", "Huang", "Ivanova", "Jensen", "Kowalski",
        "López", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi", "Schmidt", "Tanaka", "Van Dijk", "Weiß"]
COUNTRIES = ["DE", "FR", "GB", "US", "BR", "JP", "IN", "NG", "PL", "SE"]
STATUSES = ["new", "open", "pending", "resolved", "closed"]
PRIORITIES = ["low", "normal", "high", "urgent"]
TAGS = ["billing", "refund", "login", "bug", "feature", "vip", "shipping", "api"]
PHRASES = ["Cannot log in since the update.", "Invoice shows the wrong VAT rate 🧾.", "Export to CSV hangs\nat 99 %.",
           "Please call me back ☎️", "Die Bestellung ist nicht angekommen.", "Le paiement a échoué deux fois.",
           "API returns 502\r\nfrom time to time", "Refund still pending after 14 days\t(order #A-991)."]


def _ts(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


def _moment(rng: random.Random, after: datetime = START) -> datetime:
    span = (END - after).total_seconds()
    return after + timedelta(seconds=int(rng.random() * max(span, 1)))


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first}.{last}{rng.randrange(1000)}@example.com".lower().replace("'", "").replace(" ", "")
    return f"{first} {last}", email


def generate(path: Path, scale: float = 1.0) -> dict[str, int]:
    rng = random.Random(SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(SCHEMA)
    n_agents, n_customers = int(200 * scale) or 1, int(20_000 * scale) or 1
    n_tickets, n_comments = int(80_000 * scale) or 1, int(240_000 * scale) or 1

    agents = []
    for i in range(1, n_agents + 1):
        name, email = _person(rng)
        created = _moment(rng)
        hire = (created - timedelta(days=rng.randrange(30, 2000))).date().isoformat()
        edited = _ts(_moment(rng, created)) if rng.random() < 0.1 else None
        agents.append((i, name, email, rng.choice(["tier1", "tier2", "billing"]), hire, rng.random() > 0.05,
                       _ts(created), edited))
    db.executemany("INSERT INTO agents VALUES (?,?,?,?,?,?,?,?)", agents)

    customers = []
    for i in range(1, n_customers + 1):
        name, email = _person(rng)
        created = _moment(rng)
        profile = json.dumps({"plan": rng.choice(["free", "pro", "team"]), "newsletter": rng.random() < 0.3,
                              "seats": rng.randrange(1, 50)}, ensure_ascii=False)
        deleted = _ts(_moment(rng, created)) if rng.random() < 0.02 else None
        customers.append((i, name, email, f"+49 {rng.randrange(10**9, 10**10)}", rng.choice(LAST) + " GmbH",
                          rng.choice(COUNTRIES), profile, _ts(created), deleted, deleted))
    db.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?)", customers)
    db.executemany("INSERT INTO labels VALUES (?,?,?,?,?)",
                   [(i + 1, t, f"#{rng.randrange(0xFFFFFF):06x}", _ts(START), None) for i, t in enumerate(TAGS)])

    tickets, created_of = [], {}
    for i in range(1, n_tickets + 1):
        created = _moment(rng)
        created_of[i] = created
        status = rng.choices(STATUSES, weights=[1, 2, 1, 3, 5])[0]
        edited = _moment(rng, created) if status != "new" or rng.random() < 0.1 else None
        closed = _ts(edited) if status in ("resolved", "closed") else None
        tags = ",".join(sorted(rng.sample(TAGS, rng.randrange(0, 3))))
        tickets.append((i, f"Ticket {i}: {rng.choice(PHRASES)[:30]}", "\n".join(rng.sample(PHRASES, 3)), status,
                        rng.choice(PRIORITIES), tags or None, round(rng.uniform(1, 72), 2),
                        rng.randrange(1, 600) if edited else None,
                        rng.randrange(1, n_customers + 1) if rng.random() > 0.01 else None,
                        rng.randrange(1, n_agents + 1) if rng.random() > 0.05 else None,
                        _ts(created), closed, _ts(created), _ts(edited),
                        _ts(edited) if edited and rng.random() < 0.01 else None))
    db.executemany("INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", tickets)

    comments = []
    for i in range(1, n_comments + 1):
        ticket = rng.randrange(1, n_tickets + 1)
        created = _moment(rng, created_of[ticket])
        comments.append((i, ticket, rng.randrange(1, n_agents + 1) if rng.random() < 0.6 else None,
                         rng.choice(PHRASES) + ("\n\n— sent from mobile 📱" if rng.random() < 0.1 else ""),
                         rng.random() < 0.2, _ts(created), None))
    db.executemany("INSERT INTO ticket_comments VALUES (?,?,?,?,?,?,?)", comments)

    links = {(rng.randrange(1, n_tickets + 1), rng.randrange(1, len(TAGS) + 1)) for _ in range(n_tickets // 2)}
    db.executemany("INSERT INTO _nc_m2m_tickets_labels VALUES (?,?)", sorted(links))

    # hard deletes, as the app's REST API does them: gone without a trace in the table
    db.execute("DELETE FROM ticket_comments WHERE id % 97 = 0")
    db.commit()
    counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
              for t in ("agents", "customers", "labels", "tickets", "ticket_comments", "_nc_m2m_tickets_labels")}
    db.close()
    tmp.replace(path)  # a half-written demo database never appears under the final name
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the demo helpdesk SQLite database.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="row count multiplier (default 1.0)")
    parser.add_argument("--force", action="store_true", help="rewrite an existing database")
    args = parser.parse_args(argv)
    if args.path.exists() and not args.force:
        print(f"{args.path} exists; keeping it (use --force to rewrite)")
        return 0
    counts = generate(args.path, args.scale)
    print(f"wrote {args.path}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
