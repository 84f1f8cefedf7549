//! Images: build artifacts (VM disk images, ISOs, any large file) stored
//! outside repositories, addressed by UUID, with an owner, a visibility and
//! a history of versions (see [`depot_core::image`]).
//!
//! Who may do what is decided by [`crate::auth::image_access`] alone; this
//! module turns its answer into errors the same way everywhere:
//!
//! - an image the caller may not see is `NotFound`, exactly like an image
//!   that does not exist (its existence is never revealed);
//! - an anonymous caller asking for more than reading gets `Unauthorized`
//!   before anything is looked up;
//! - a caller who may see an image but not manage it gets `Forbidden`.
//!
//! Uploads stream through [`crate::staging`] (hashed on the way, never held
//! in memory) and become content-addressed blobs; a copy shares the blob
//! (no bytes copied). Every input is validated before the body is read, so
//! a refused request changes nothing.

use crate::auth::{ImageAccess, image_access};
use crate::{Depot, Download, ServiceError, download, staging};
use depot_core::image::{
    self, DETECT_PREFIX_LEN, Image, ImageBlob, ImageFilter, ImageFormat, ImageId, ImageUpdate,
    ImageVersion, NewImage, Visibility,
};
use depot_core::{Timestamp, TokenRecord, TokenScope};
use rand::RngCore;
use std::ops::Range;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Which images [`Depot::list_images`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageScope {
    /// Owned by the caller.
    Mine,
    /// Shared with one of the caller's groups.
    Shared,
    /// Public.
    Public,
    /// Everything the caller may see (admins: every image).
    #[default]
    All,
}

impl ImageScope {
    pub fn parse(s: &str) -> Result<Self, ServiceError> {
        match s {
            "mine" => Ok(ImageScope::Mine),
            "shared" => Ok(ImageScope::Shared),
            "public" => Ok(ImageScope::Public),
            "all" => Ok(ImageScope::All),
            _ => Err(ServiceError::Invalid(format!(
                "scope must be mine, shared, public or all, not {s:?}"
            ))),
        }
    }
}

/// The descriptive fields of a new image ([`Depot::create_image`]).
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// A JSON object (`{}` when absent).
    pub metadata: serde_json::Value,
    /// The format, when the content has no magic depot recognises (a hint:
    /// a recognised magic wins).
    pub format: Option<ImageFormat>,
    /// The uploaded file's name, for format detection by extension.
    pub filename: Option<String>,
}

impl ImageSpec {
    pub fn new(name: impl Into<String>) -> Self {
        ImageSpec {
            name: name.into(),
            description: String::new(),
            visibility: Visibility::Private,
            metadata: serde_json::json!({}),
            format: None,
            filename: None,
        }
    }
}

fn invalid(e: String) -> ServiceError {
    ServiceError::Invalid(e)
}

fn check_update(u: &ImageUpdate) -> Result<(), ServiceError> {
    if let Some(n) = &u.name {
        image::validate_name(n).map_err(invalid)?;
    }
    if let Some(d) = &u.description {
        image::validate_description(d).map_err(invalid)?;
    }
    if let Some(m) = &u.metadata {
        image::validate_metadata(m).map_err(invalid)?;
    }
    Ok(())
}

fn not_found(id: ImageId) -> ServiceError {
    ServiceError::NotFound(format!("image {id}"))
}

/// The caller's user name (the owner of images it creates).
fn user(token: Option<&TokenRecord>) -> Result<&TokenRecord, ServiceError> {
    if image_access(token, None) < ImageAccess::Manage {
        return Err(ServiceError::Unauthorized);
    }
    token.ok_or(ServiceError::Unauthorized)
}

impl Depot {
    /// Loads `id` and checks the caller has at least `need` on it (see the
    /// [module docs](self) for the errors).
    async fn image_for(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
        need: ImageAccess,
    ) -> Result<Image, ServiceError> {
        if need > ImageAccess::Read && token.is_none() {
            return Err(ServiceError::Unauthorized);
        }
        let image = self
            .meta()
            .get_image(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        match image_access(token, Some(&image)) {
            ImageAccess::None => Err(not_found(id)),
            have if have < need => Err(ServiceError::Forbidden(format!(
                "image {id} belongs to '{}'; only its owner or an admin may change it",
                image.owner
            ))),
            _ => Ok(image),
        }
    }

    /// The images in `scope` the caller may see, by name. `Mine` and
    /// `Shared` need a token.
    pub async fn list_images(
        &self,
        token: Option<&TokenRecord>,
        scope: ImageScope,
    ) -> Result<Vec<Image>, ServiceError> {
        let filter = match (scope, token) {
            (ImageScope::Public, _) => ImageFilter {
                public: true,
                ..Default::default()
            },
            (ImageScope::Mine | ImageScope::Shared, None) => {
                return Err(ServiceError::Unauthorized);
            }
            (ImageScope::Mine, Some(t)) => ImageFilter {
                owner: Some(t.name.clone()),
                ..Default::default()
            },
            (ImageScope::Shared, Some(t)) => ImageFilter {
                groups: t.groups.clone(),
                ..Default::default()
            },
            (ImageScope::All, None) => ImageFilter {
                public: true,
                ..Default::default()
            },
            (ImageScope::All, Some(t)) => ImageFilter {
                all: t.scope == TokenScope::Admin,
                owner: Some(t.name.clone()),
                groups: t.groups.clone(),
                public: true,
            },
        };
        // The filter pre-selects; the access function has the last word.
        Ok(self
            .meta()
            .list_images(&filter)
            .await?
            .into_iter()
            .filter(|i| image_access(token, Some(i)) >= ImageAccess::Read)
            .collect())
    }

    /// One image's details.
    pub async fn image(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
    ) -> Result<Image, ServiceError> {
        self.image_for(token, id, ImageAccess::Read).await
    }

    /// Every version of the image, newest first.
    pub async fn image_history(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
    ) -> Result<Vec<ImageVersion>, ServiceError> {
        self.image_for(token, id, ImageAccess::Read).await?;
        Ok(self.meta().image_history(id).await?)
    }

    /// Creates an image owned by the caller from `body`, streamed to the blob
    /// store. Everything is validated before the body is read.
    pub async fn create_image<R: AsyncRead + Unpin + Send>(
        &self,
        token: Option<&TokenRecord>,
        spec: ImageSpec,
        body: R,
    ) -> Result<Image, ServiceError> {
        let owner = user(token)?.name.clone();
        image::validate_name(&spec.name).map_err(invalid)?;
        image::validate_description(&spec.description).map_err(invalid)?;
        image::validate_metadata(&spec.metadata).map_err(invalid)?;
        let blob = self
            .store_image_blob(body, spec.format, spec.filename.as_deref())
            .await?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let new = NewImage {
            id: ImageId::from_random(raw),
            name: spec.name,
            description: spec.description,
            owner,
            visibility: spec.visibility,
            metadata: spec.metadata,
            blob,
            copied_from: None,
        };
        Ok(self.meta().create_image(&new, Timestamp::now()).await?)
    }

    /// Changes name, description, visibility and/or metadata (owner or
    /// admin).
    pub async fn update_image(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
        update: ImageUpdate,
    ) -> Result<Image, ServiceError> {
        check_update(&update)?;
        self.image_for(token, id, ImageAccess::Manage).await?;
        Ok(self
            .meta()
            .update_image(id, &update, Timestamp::now())
            .await?)
    }

    /// Replaces the image's file with `body` as a new version (owner or
    /// admin). `expected` is the version the caller based the change on;
    /// `None` means the version current when the request started. If
    /// another overwrite got there first: `Conflict`, and the upload is
    /// left to gc. The format is sniffed anew (`format` and `filename` are
    /// hints as at creation).
    pub async fn overwrite_image<R: AsyncRead + Unpin + Send>(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
        expected: Option<i64>,
        format: Option<ImageFormat>,
        filename: Option<&str>,
        body: R,
    ) -> Result<Image, ServiceError> {
        let current = self.image_for(token, id, ImageAccess::Manage).await?;
        let expected = expected.unwrap_or(current.version);
        if expected != current.version {
            return Err(depot_core::meta::MetaError::VersionConflict {
                current: current.version,
            }
            .into());
        }
        let blob = self.store_image_blob(body, format, filename).await?;
        Ok(self
            .meta()
            .new_image_version(id, expected, &blob, Timestamp::now())
            .await?)
    }

    /// A new image (new UUID, owned by the caller, version 1) with the
    /// current file of `id`, which the caller must be able to read. The blob
    /// is shared, not copied. Name defaults to the source's, visibility to
    /// private; description and metadata are copied.
    pub async fn copy_image(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
        name: Option<String>,
        visibility: Option<Visibility>,
    ) -> Result<Image, ServiceError> {
        let owner = user(token)?.name.clone();
        if let Some(n) = &name {
            image::validate_name(n).map_err(invalid)?;
        }
        self.image_for(token, id, ImageAccess::Read).await?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        // One store transaction: the blob stays referenced throughout, also
        // if the source is deleted meanwhile (gc never sees it orphaned).
        Ok(self
            .meta()
            .copy_image(
                id,
                ImageId::from_random(raw),
                &owner,
                name.as_deref(),
                &visibility.unwrap_or(Visibility::Private),
                Timestamp::now(),
            )
            .await?)
    }

    /// Deletes the image and its history (owner or admin). Blobs no other
    /// image or package references are left for gc.
    pub async fn delete_image(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
    ) -> Result<(), ServiceError> {
        self.image_for(token, id, ImageAccess::Manage).await?;
        if self.meta().delete_image(id).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// The current file of the image, whole or a byte range; a redirect to
    /// the blob store instead when [`crate::ServiceConfig::image_download`]
    /// says so and the store can presign.
    pub async fn download_image(
        &self,
        token: Option<&TokenRecord>,
        id: ImageId,
        range: Option<Range<u64>>,
    ) -> Result<Download, ServiceError> {
        let image = self.image_for(token, id, ImageAccess::Read).await?;
        download::package(
            self.blobs(),
            &self.inner.serving.blobs(),
            self.config().image_download,
            &image.blob.hashes.sha256,
            image.blob.size,
            range,
            "application/octet-stream",
        )
        .await
    }

    /// Replaces the groups of a token (each as
    /// [`depot_core::image::validate_group`]); images shared with one of them
    /// become visible to the token.
    pub async fn set_token_groups(
        &self,
        token: depot_core::TokenId,
        groups: &[String],
    ) -> Result<(), ServiceError> {
        for g in groups {
            image::validate_group(g).map_err(invalid)?;
        }
        Ok(self.meta().set_token_groups(token, groups).await?)
    }

    /// Streams `body` to a staged file (hashing it, failing past the upload
    /// limit), sniffs its format and moves it into the blob store.
    async fn store_image_blob<R: AsyncRead + Unpin + Send>(
        &self,
        body: R,
        hint: Option<ImageFormat>,
        filename: Option<&str>,
    ) -> Result<ImageBlob, ServiceError> {
        let staged =
            staging::stage(&self.config().tmp_dir, body, self.config().max_upload_bytes).await?;
        let mut prefix = Vec::with_capacity(DETECT_PREFIX_LEN);
        tokio::fs::File::open(staged.path())
            .await?
            .take(DETECT_PREFIX_LEN as u64)
            .read_to_end(&mut prefix)
            .await?;
        let format = match ImageFormat::detect(&prefix, "") {
            ImageFormat::Raw => {
                hint.unwrap_or_else(|| ImageFormat::detect(&prefix, filename.unwrap_or("")))
            }
            sniffed => sniffed,
        };
        let path = staged.path().to_path_buf();
        self.blobs()
            .put_file_moving(&staged.hashes.sha256, &path)
            .await?;
        Ok(ImageBlob {
            format,
            size: staged.size,
            hashes: staged.hashes.clone(),
        })
    }
}
