-- Images (VM disk images, ISOs, any build artifact) outside repositories,
-- and the groups of tokens that decide who sees images shared with a
-- group. PostgreSQL flavour; keep in step with ../sqlite/0002_images.sql.
--
-- An image's current file is the image_versions row whose version equals
-- images.version; older rows are its history. Every row's blob counts as
-- referenced for gc until the image is deleted (ON DELETE CASCADE).

ALTER TABLE tokens ADD COLUMN groups_json TEXT NOT NULL DEFAULT '[]';

CREATE TABLE images (
    -- The UUID, lowercase and hyphenated.
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL,
    description    TEXT   NOT NULL,
    owner          TEXT COLLATE "C" NOT NULL,
    visibility     TEXT   NOT NULL CHECK (visibility IN ('private', 'group', 'public')),
    visible_group  TEXT COLLATE "C" NULL,
    metadata_json  TEXT   NOT NULL,
    -- The current version; moved only by compare-and-set.
    version        BIGINT NOT NULL CHECK (version >= 1),
    copied_from    TEXT   NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK ((visibility = 'group') = (visible_group IS NOT NULL))
);

CREATE INDEX images_by_owner ON images (owner);
CREATE INDEX images_by_visibility ON images (visibility, visible_group);

CREATE TABLE image_versions (
    image_id   TEXT COLLATE "C" NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    format     TEXT   NOT NULL,
    size       BIGINT NOT NULL CHECK (size >= 0),
    md5        TEXT   NOT NULL,
    sha1       TEXT   NOT NULL,
    sha256     TEXT   NOT NULL,
    sha512     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, version)
);
