//! What stock clients fetch: the apt tree under `dists/` (and its `dist/`
//! alias), the rpm trees (`repodata/`, `rpm/{dist}/{comp}/`), the pacman
//! tree (`pacman/{arch}/`), the `.repo` file and `pacman.conf` section, the
//! signing key, and the health check.

use crate::AppState;
use crate::auth::Caller;
use crate::download::{self, Caching};
use crate::error::ApiError;
use crate::extract::PathParams;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use depot_core::{FileName, PlacementName, RelPath, RepoName};
use depot_service::auth::Action;

/// `GET|HEAD /repos/{repo}/dists/{*path}` and `/repos/{repo}/dist/{*path}`:
/// a file of the current publication, with `Range`.
pub async fn dists(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    serve_published(state, caller, headers, &repo, &format!("dists/{path}")).await
}

/// `GET|HEAD /repos/{repo}/repodata/{*path}`: the rpm metadata of the
/// repo's default placement.
pub async fn repodata(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    serve_published(state, caller, headers, &repo, &format!("repodata/{path}")).await
}

/// `GET|HEAD /repos/{repo}/rpm/{dist}/{comp}/{*rest}`: the rpm tree of
/// another placement: its `repodata/`, and its packages under `packages/`
/// (the same download as `/repos/{repo}/packages/{file}`), so that the
/// `location href` of every tree is `packages/{file}`.
pub async fn rpm_tree(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, dist, comp, rest)): PathParams<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    if let Some(file) = rest.strip_prefix("packages/") {
        let name = RepoName::new(&repo)?;
        let file = FileName::new(file)?;
        caller.repo(&state, &name, Action::Read).await?;
        return download::serve(&headers, Caching::Revalidate, |range| {
            state.depot.download(&name, &file, range)
        })
        .await;
    }
    serve_published(
        state,
        caller,
        headers,
        &repo,
        &format!("rpm/{dist}/{comp}/{rest}"),
    )
    .await
}

/// `GET|HEAD /repos/{repo}/pacman/{arch}/{file}`: a pacman database
/// (`{db}.db`, `{db}.files`, their `.tar.gz` names and `.sig`s), or a
/// pacman package or its `.sig` beside it, as pacman fetches them from
/// `Server = .../pacman/$arch`.
pub async fn pacman_tree(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, arch, file)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    let arch = PlacementName::new(&arch)?;
    let file = FileName::new(&file)?;
    caller.repo(&state, &name, Action::Read).await?;
    download::serve(&headers, Caching::Revalidate, |range| {
        state.depot.pacman_file(&name, arch.as_str(), &file, range)
    })
    .await
}

/// `GET|HEAD /repos/{repo}/alpine/{*path}`: the Alpine tree, as apk
/// fetches it from `http://HOST/repos/{repo}/alpine/{branch}/{repository}`:
/// `{branch}/{repository}/{arch}/APKINDEX.tar.gz`, the packages beside it
/// (`{P}-{V}.apk`), and the public key `{keyname}.rsa.pub` for
/// `/etc/apk/keys/`. `alpine/repositories` is the `/etc/apk/repositories`
/// line for the repo's default placement (`?distribution=&component=` for
/// another).
pub async fn alpine_tree(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
    crate::extract::QueryParams(query): crate::extract::QueryParams<RepoFileQuery>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    if path == "repositories" {
        let dist = query
            .distribution
            .map(|d| PlacementName::new(&d))
            .transpose()?;
        let comp = query
            .component
            .map(|c| PlacementName::new(&c))
            .transpose()?;
        let base = external_base(&headers);
        let text = state
            .depot
            .apk_repositories(&name, &base, dist.as_ref(), comp.as_ref())
            .await?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            text,
        )
            .into_response());
    }
    let path = RelPath::new(&path)?;
    download::serve(&headers, Caching::Revalidate, |range| {
        state.depot.alpine_file(&name, &path, range)
    })
    .await
}

/// `GET|HEAD /repos/{repo}/freebsd/{*path}`: the FreeBSD trees, as pkg
/// fetches them from `url: http://HOST/repos/{repo}/freebsd/${ABI}`:
/// `{ABI}/meta.conf`, `{ABI}/packagesite.pkg` (and `.txz`), `{ABI}/data.pkg`,
/// `{ABI}/All/{name}-{version}.pkg`; other placements under
/// `{dist}/{comp}/{ABI}/`. `freebsd/repo.conf` is the pkg repository
/// configuration for the repo's default placement
/// (`?distribution=&component=` for another).
pub async fn freebsd_tree(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
    crate::extract::QueryParams(query): crate::extract::QueryParams<RepoFileQuery>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    if path == "repo.conf" {
        let dist = query
            .distribution
            .map(|d| PlacementName::new(&d))
            .transpose()?;
        let comp = query
            .component
            .map(|c| PlacementName::new(&c))
            .transpose()?;
        let base = external_base(&headers);
        let text = state
            .depot
            .pkg_repo_conf(&name, &base, dist.as_ref(), comp.as_ref())
            .await?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            text,
        )
            .into_response());
    }
    let path = RelPath::new(&path)?;
    download::serve(&headers, Caching::Revalidate, |range| {
        state.depot.freebsd_file(&name, &path, range)
    })
    .await
}

/// `GET /repos/{repo}/key.rsa.pub`: the RSA public key (PEM) that signs
/// the repo's Alpine and FreeBSD indexes.
pub async fn rsa_public_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    let (_, pem) = state.depot.rsa_public_key(&name).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        pem,
    )
        .into_response())
}

/// `GET /repos/{repo}/pacman.conf`: the `pacman.conf` section for this
/// repo's database (`SigLevel = Required`), with the commands that trust
/// its key. `?distribution=&component=` for another placement's database.
pub async fn pacman_conf(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams(repo): PathParams<String>,
    crate::extract::QueryParams(query): crate::extract::QueryParams<RepoFileQuery>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    let dist = query
        .distribution
        .map(|d| PlacementName::new(&d))
        .transpose()?;
    let comp = query
        .component
        .map(|c| PlacementName::new(&c))
        .transpose()?;
    let base = external_base(&headers);
    let text = state
        .depot
        .pacman_conf(&name, &base, dist.as_ref(), comp.as_ref())
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

async fn serve_published(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    repo: &str,
    path: &str,
) -> Result<Response, ApiError> {
    let name = RepoName::new(repo)?;
    let path = RelPath::new(path)?;
    caller.repo(&state, &name, Action::Read).await?;
    let caching = if depot_service::is_immutable_path(path.as_str()) {
        Caching::Immutable
    } else {
        Caching::Revalidate
    };
    download::serve(&headers, caching, |range| {
        state.depot.published_file(&name, path.as_str(), range)
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoFileQuery {
    distribution: Option<String>,
    component: Option<String>,
}

/// `GET /repos/{repo}/config.repo`: a dnf/yum `.repo` file for this repo,
/// ready for `/etc/yum.repos.d/`, with metadata and package signature
/// checks on. `?distribution=&component=` for a placement other than the
/// repo's default. The base URL is the one the request came in on
/// (`X-Forwarded-Proto`/`-Host` when a proxy sets them).
pub async fn repo_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams(repo): PathParams<String>,
    crate::extract::QueryParams(query): crate::extract::QueryParams<RepoFileQuery>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    let dist = query
        .distribution
        .map(|d| PlacementName::new(&d))
        .transpose()?;
    let comp = query
        .component
        .map(|c| PlacementName::new(&c))
        .transpose()?;
    let base = external_base(&headers);
    let text = state
        .depot
        .rpm_repo_file(&name, &base, dist.as_ref(), comp.as_ref())
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `scheme://host` of the request as the client sees it.
fn external_base(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = get("x-forwarded-proto")
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".to_string());
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or_else(|| "localhost".to_string());
    format!("{proto}://{host}")
}

/// `GET /repos/{repo}/key.asc`: the armored OpenPGP key the repo is signed
/// with, for `signed-by=`.
pub async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    let key = state.depot.public_key_armored(&name).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pgp-keys"),
        )],
        key,
    )
        .into_response())
}

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}
