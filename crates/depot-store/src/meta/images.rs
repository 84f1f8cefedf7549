//! The image methods of [`SqlMetaStore`] (schema: `0002_images.sql`).
//!
//! The current file of an image is its `image_versions` row at
//! `images.version`; an overwrite moves `images.version` by compare-and-set
//! (`UPDATE .. WHERE version = $expected`) and inserts the new row in the
//! same transaction. On PostgreSQL a concurrent overwrite blocks on the row
//! lock of the first and then finds the version moved; on SQLite writers are
//! serialised by `BEGIN IMMEDIATE`.

use super::{SqlMetaStore, from_json, get, map_sqlx, to_i64, to_json};
use depot_core::digest::{Hashes, Sha256};
use depot_core::image::*;
use depot_core::meta::{ImageStore, MetaError};
use depot_core::time::Timestamp;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const SELECT: &str = "SELECT i.id, i.name, i.description, i.owner, i.visibility, \
     i.visible_group, i.metadata_json, i.version, i.copied_from, i.created_at, i.updated_at, \
     v.format, v.size, v.md5, v.sha1, v.sha256, v.sha512 \
     FROM images i JOIN image_versions v ON v.image_id = i.id AND v.version = i.version";

fn corrupt(what: &str, e: impl std::fmt::Display) -> MetaError {
    super::corrupt(what, e)
}

fn blob_from_row(row: &AnyRow) -> Result<ImageBlob, MetaError> {
    let format: String = get(row, "format")?;
    let size: i64 = get(row, "size")?;
    let sha256: String = get(row, "sha256")?;
    Ok(ImageBlob {
        format: ImageFormat::parse(&format).ok_or_else(|| corrupt("image format", &format))?,
        size: u64::try_from(size).map_err(|e| corrupt("image size", e))?,
        hashes: Hashes {
            md5: get(row, "md5")?,
            sha1: get(row, "sha1")?,
            sha256: Sha256::parse(&sha256).ok_or_else(|| corrupt("sha256", &sha256))?,
            sha512: get(row, "sha512")?,
        },
    })
}

fn image_id(s: &str) -> Result<ImageId, MetaError> {
    ImageId::parse(s).ok_or_else(|| corrupt("image id", s))
}

fn image_from_row(row: &AnyRow) -> Result<Image, MetaError> {
    let id: String = get(row, "id")?;
    let kind: String = get(row, "visibility")?;
    let group: Option<String> = get(row, "visible_group")?;
    let visibility = match (kind.as_str(), group) {
        ("private", None) => Visibility::Private,
        ("public", None) => Visibility::Public,
        ("group", Some(g)) => Visibility::Group(g),
        (k, g) => return Err(corrupt("image visibility", format!("{k} {g:?}"))),
    };
    let metadata: String = get(row, "metadata_json")?;
    let copied_from: Option<String> = get(row, "copied_from")?;
    Ok(Image {
        id: image_id(&id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        owner: get(row, "owner")?,
        visibility,
        metadata: from_json(&metadata, "image metadata")?,
        version: get(row, "version")?,
        blob: blob_from_row(row)?,
        copied_from: copied_from.as_deref().map(image_id).transpose()?,
        created_at: Timestamp(get(row, "created_at")?),
        updated_at: Timestamp(get(row, "updated_at")?),
    })
}

async fn fetch(c: &mut AnyConnection, id: ImageId) -> Result<Option<Image>, MetaError> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(image_from_row)
        .transpose()
}

async fn insert_version(
    c: &mut AnyConnection,
    id: ImageId,
    version: i64,
    blob: &ImageBlob,
    now: Timestamp,
) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO image_versions (image_id, version, format, size, md5, sha1, sha256, \
         sha512, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.to_string())
    .bind(version)
    .bind(blob.format.as_str())
    .bind(to_i64(blob.size, "image size")?)
    .bind(blob.hashes.md5.as_str())
    .bind(blob.hashes.sha1.as_str())
    .bind(blob.hashes.sha256.hex())
    .bind(blob.hashes.sha512.as_str())
    .bind(now.0)
    .execute(&mut *c)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

fn not_found(id: ImageId) -> MetaError {
    MetaError::NotFound(format!("image {id}"))
}

impl SqlMetaStore {
    pub(super) async fn images_create(
        &self,
        image: &NewImage,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        let metadata = to_json(&image.metadata, "image metadata")?;
        let mut tx = self.write_tx().await?;
        let result = async {
            let exists = sqlx::query("SELECT id FROM images WHERE id = $1")
                .bind(image.id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            if exists.is_some() {
                return Err(MetaError::AlreadyExists(format!("image {}", image.id)));
            }
            sqlx::query(
                "INSERT INTO images (id, name, description, owner, visibility, visible_group, \
                 metadata_json, version, copied_from, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)",
            )
            .bind(image.id.to_string())
            .bind(image.name.as_str())
            .bind(image.description.as_str())
            .bind(image.owner.as_str())
            .bind(image.visibility.kind())
            .bind(image.visibility.group().map(str::to_string))
            .bind(metadata)
            .bind(image.copied_from.map(|c| c.to_string()))
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db)
                    if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
                {
                    MetaError::AlreadyExists(format!("image {}", image.id))
                }
                _ => map_sqlx(e),
            })?;
            insert_version(&mut tx, image.id, 1, &image.blob, now).await?;
            fetch(&mut tx, image.id)
                .await?
                .ok_or_else(|| MetaError::Backend("image vanished inside its transaction".into()))
        }
        .await;
        self.finish_write(tx, result).await
    }

    pub(super) async fn images_copy(
        &self,
        source: ImageId,
        new_id: ImageId,
        owner: &str,
        name: Option<&str>,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            if self.backend == super::Backend::Postgres {
                // Hold off a concurrent delete of the source until the copy
                // is committed (SQLite writers are serialised anyway).
                sqlx::query("SELECT id FROM images WHERE id = $1 FOR SHARE")
                    .bind(source.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
            }
            let src = fetch(&mut tx, source)
                .await?
                .ok_or_else(|| not_found(source))?;
            let taken = sqlx::query("SELECT id FROM images WHERE id = $1")
                .bind(new_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            if taken.is_some() {
                return Err(MetaError::AlreadyExists(format!("image {new_id}")));
            }
            sqlx::query(
                "INSERT INTO images (id, name, description, owner, visibility, visible_group, \
                 metadata_json, version, copied_from, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)",
            )
            .bind(new_id.to_string())
            .bind(name.unwrap_or(&src.name))
            .bind(src.description.as_str())
            .bind(owner)
            .bind(visibility.kind())
            .bind(visibility.group().map(str::to_string))
            .bind(to_json(&src.metadata, "image metadata")?)
            .bind(source.to_string())
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            insert_version(&mut tx, new_id, 1, &src.blob, now).await?;
            fetch(&mut tx, new_id)
                .await?
                .ok_or_else(|| MetaError::Backend("image vanished inside its transaction".into()))
        }
        .await;
        self.finish_write(tx, result).await
    }

    pub(super) async fn images_get(&self, id: ImageId) -> Result<Option<Image>, MetaError> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        fetch(&mut conn, id).await
    }

    pub(super) async fn images_list(&self, filter: &ImageFilter) -> Result<Vec<Image>, MetaError> {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if filter.all {
            conds.push("1 = 1".to_string());
        }
        if let Some(owner) = &filter.owner {
            binds.push(owner.clone());
            conds.push(format!("i.owner = ${}", binds.len()));
        }
        if !filter.groups.is_empty() {
            let mut ps = Vec::new();
            for g in &filter.groups {
                binds.push(g.clone());
                ps.push(format!("${}", binds.len()));
            }
            conds.push(format!(
                "(i.visibility = 'group' AND i.visible_group IN ({}))",
                ps.join(", ")
            ));
        }
        if filter.public {
            conds.push("i.visibility = 'public'".to_string());
        }
        if conds.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{SELECT} WHERE {} ORDER BY i.name, i.id",
            conds.join(" OR ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?
            .iter()
            .map(image_from_row)
            .collect()
    }

    pub(super) async fn images_update(
        &self,
        id: ImageId,
        update: &ImageUpdate,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        let metadata = update
            .metadata
            .as_ref()
            .map(|m| to_json(m, "image metadata"))
            .transpose()?;
        let mut tx = self.write_tx().await?;
        let result = async {
            let current = fetch(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
            let visibility = update.visibility.as_ref().unwrap_or(&current.visibility);
            sqlx::query(
                "UPDATE images SET name = $2, description = $3, visibility = $4, \
                 visible_group = $5, metadata_json = $6, updated_at = $7 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(update.name.as_deref().unwrap_or(&current.name))
            .bind(
                update
                    .description
                    .as_deref()
                    .unwrap_or(&current.description),
            )
            .bind(visibility.kind())
            .bind(visibility.group().map(str::to_string))
            .bind(match metadata {
                Some(m) => m,
                None => to_json(&current.metadata, "image metadata")?,
            })
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            fetch(&mut tx, id).await?.ok_or_else(|| not_found(id))
        }
        .await;
        self.finish_write(tx, result).await
    }

    pub(super) async fn images_new_version(
        &self,
        id: ImageId,
        expected: i64,
        blob: &ImageBlob,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            let moved = sqlx::query(
                "UPDATE images SET version = version + 1, updated_at = $3 \
                 WHERE id = $1 AND version = $2",
            )
            .bind(id.to_string())
            .bind(expected)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?
            .rows_affected();
            if moved == 0 {
                let row = sqlx::query("SELECT version FROM images WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_sqlx)?
                    .ok_or_else(|| not_found(id))?;
                return Err(MetaError::VersionConflict {
                    current: get(&row, "version")?,
                });
            }
            insert_version(&mut tx, id, expected + 1, blob, now).await?;
            fetch(&mut tx, id).await?.ok_or_else(|| not_found(id))
        }
        .await;
        self.finish_write(tx, result).await
    }

    pub(super) async fn images_history(&self, id: ImageId) -> Result<Vec<ImageVersion>, MetaError> {
        sqlx::query(
            "SELECT version, format, size, md5, sha1, sha256, sha512, created_at \
             FROM image_versions WHERE image_id = $1 ORDER BY version DESC",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?
        .iter()
        .map(|row| {
            Ok(ImageVersion {
                version: get(row, "version")?,
                blob: blob_from_row(row)?,
                created_at: Timestamp(get(row, "created_at")?),
            })
        })
        .collect()
    }

    pub(super) async fn images_delete(&self, id: ImageId) -> Result<bool, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            // Explicitly, not only by cascade: foreign keys are a per-
            // connection setting on SQLite.
            sqlx::query("DELETE FROM image_versions WHERE image_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            let n = sqlx::query("DELETE FROM images WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .rows_affected();
            Ok(n > 0)
        }
        .await;
        self.finish_write(tx, result).await
    }

    pub(super) async fn images_blob_digests(&self) -> Result<Vec<Sha256>, MetaError> {
        sqlx::query("SELECT DISTINCT sha256 FROM image_versions ORDER BY sha256")
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?
            .iter()
            .map(|row| {
                let hex: String = get(row, "sha256")?;
                Sha256::parse(&hex).ok_or_else(|| corrupt("sha256", &hex))
            })
            .collect()
    }

    pub(super) async fn tokens_set_groups(
        &self,
        token: depot_core::model::TokenId,
        groups: &[String],
    ) -> Result<(), MetaError> {
        let mut groups = groups.to_vec();
        groups.sort();
        groups.dedup();
        let json = to_json(&groups, "token groups")?;
        let mut tx = self.write_tx().await?;
        let result = async {
            let n = sqlx::query("UPDATE tokens SET groups_json = $2 WHERE id = $1")
                .bind(token.0)
                .bind(json)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .rows_affected();
            if n == 0 {
                return Err(MetaError::NotFound(format!("token #{token}")));
            }
            Ok(())
        }
        .await;
        self.finish_write(tx, result).await
    }
}

#[async_trait::async_trait]
impl ImageStore for SqlMetaStore {
    async fn create_image(&self, image: &NewImage, now: Timestamp) -> Result<Image, MetaError> {
        self.images_create(image, now).await
    }

    async fn get_image(&self, id: ImageId) -> Result<Option<Image>, MetaError> {
        self.images_get(id).await
    }

    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, MetaError> {
        self.images_list(filter).await
    }

    async fn update_image(
        &self,
        id: ImageId,
        update: &ImageUpdate,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        self.images_update(id, update, now).await
    }

    async fn new_image_version(
        &self,
        id: ImageId,
        expected: i64,
        blob: &ImageBlob,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        self.images_new_version(id, expected, blob, now).await
    }

    async fn copy_image(
        &self,
        source: ImageId,
        new_id: ImageId,
        owner: &str,
        name: Option<&str>,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Image, MetaError> {
        self.images_copy(source, new_id, owner, name, visibility, now)
            .await
    }

    async fn image_history(&self, id: ImageId) -> Result<Vec<ImageVersion>, MetaError> {
        self.images_history(id).await
    }

    async fn delete_image(&self, id: ImageId) -> Result<bool, MetaError> {
        self.images_delete(id).await
    }

    async fn image_blob_digests(&self) -> Result<Vec<Sha256>, MetaError> {
        self.images_blob_digests().await
    }
}
