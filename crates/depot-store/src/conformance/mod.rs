//! placeholder
pub async fn blob_store_suite(_store: &dyn depot_core::blob::BlobStore) {}
pub async fn meta_store_suite<F, Fut>(_fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::sync::Arc<dyn depot_core::meta::MetaStore>>,
{
}
