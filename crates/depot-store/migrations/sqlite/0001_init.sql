-- depot metadata schema, SQLite flavour. Keep in step with
-- ../postgres/0001_init.sql: same tables, columns and meaning.
--
-- Conventions: timestamps are seconds since the Unix epoch (INTEGER), JSON
-- is TEXT, digests are lowercase hex TEXT. Tables are STRICT so a wrongly
-- typed value is an error, not a silent conversion. Ids use AUTOINCREMENT:
-- without it SQLite reuses the largest id after a delete, and placement ids
-- must only ever grow (incremental publishing reads "placements after id N").

CREATE TABLE repos (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    settings_json      TEXT    NOT NULL,
    revision           INTEGER NOT NULL DEFAULT 0,
    removal_gen        INTEGER NOT NULL DEFAULT 0,
    -- The published pointer; moved only by compare-and-set.
    publication_id     INTEGER NULL REFERENCES publications (id),
    published_revision INTEGER NULL,
    created_at         INTEGER NOT NULL,
    CHECK ((publication_id IS NULL) = (published_revision IS NULL))
) STRICT;

CREATE TABLE packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id     INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    filename    TEXT    NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    md5         TEXT    NOT NULL,
    sha1        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    sha512      TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    arch        TEXT    NOT NULL,
    index_entry TEXT    NOT NULL,
    fields_json TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (repo_id, filename)
) STRICT;

-- The same-name/version/arch conflict check of add_package.
CREATE INDEX packages_by_nva ON packages (repo_id, format, name, version, arch);

CREATE TABLE placements (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id      INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    package_id   INTEGER NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    distribution TEXT    NOT NULL,
    component    TEXT    NOT NULL,
    UNIQUE (package_id, distribution, component)
) STRICT;

-- index_rows: the placements of a repo after id N, in id order.
CREATE INDEX placements_by_repo_id ON placements (repo_id, id);
-- add_package: who else is in this distribution/component.
CREATE INDEX placements_by_repo_place ON placements (repo_id, distribution, component);

CREATE TABLE publications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id       INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    revision      INTEGER NOT NULL,
    manifest_json TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- recent_publications / prune_publications.
CREATE INDEX publications_by_repo_created ON publications (repo_id, created_at);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    scope_json    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    name           TEXT    PRIMARY KEY,
    armored_secret TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
