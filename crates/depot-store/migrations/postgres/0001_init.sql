-- depot metadata schema, PostgreSQL flavour. Keep in step with
-- ../sqlite/0001_init.sql: same tables, columns and meaning.
--
-- Conventions: timestamps are seconds since the Unix epoch (BIGINT), JSON is
-- TEXT (the Any driver has no JSON type), digests are lowercase hex TEXT.
-- Every integer is BIGINT: the Any driver decodes them as i64. Ids are
-- identity columns backed by sequences, which never hand out a value twice,
-- so placement ids only ever grow. Names that are listed in order use the
-- "C" collation, so PostgreSQL sorts them bytewise like SQLite does.

CREATE TABLE repos (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL UNIQUE,
    settings_json      TEXT   NOT NULL,
    revision           BIGINT NOT NULL DEFAULT 0,
    removal_gen        BIGINT NOT NULL DEFAULT 0,
    -- The published pointer; moved only by compare-and-set. Its foreign key
    -- is added below, once publications exists.
    publication_id     BIGINT NULL,
    published_revision BIGINT NULL,
    created_at         BIGINT NOT NULL,
    CHECK ((publication_id IS NULL) = (published_revision IS NULL))
);

CREATE TABLE packages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo_id     BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    filename    TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL CHECK (size >= 0),
    md5         TEXT   NOT NULL,
    sha1        TEXT   NOT NULL,
    sha256      TEXT   NOT NULL,
    sha512      TEXT   NOT NULL,
    format      TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    version     TEXT   NOT NULL,
    arch        TEXT   NOT NULL,
    index_entry TEXT   NOT NULL,
    fields_json TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (repo_id, filename)
);

-- The same-name/version/arch conflict check of add_package.
CREATE INDEX packages_by_nva ON packages (repo_id, format, name, version, arch);

CREATE TABLE placements (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo_id      BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    package_id   BIGINT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    distribution TEXT COLLATE "C" NOT NULL,
    component    TEXT COLLATE "C" NOT NULL,
    UNIQUE (package_id, distribution, component)
);

-- index_rows: the placements of a repo after id N, in id order.
CREATE INDEX placements_by_repo_id ON placements (repo_id, id);
-- add_package: who else is in this distribution/component.
CREATE INDEX placements_by_repo_place ON placements (repo_id, distribution, component);

CREATE TABLE publications (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repo_id       BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    revision      BIGINT NOT NULL,
    manifest_json TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- recent_publications / prune_publications.
CREATE INDEX publications_by_repo_created ON publications (repo_id, created_at);

ALTER TABLE repos
    ADD CONSTRAINT repos_publication_id_fkey
    FOREIGN KEY (publication_id) REFERENCES publications (id);

CREATE TABLE tokens (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT   NOT NULL,
    secret_sha256 TEXT   NOT NULL UNIQUE,
    scope_json    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    name           TEXT   PRIMARY KEY,
    armored_secret TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
