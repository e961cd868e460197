//! AWS profiles: what the AWS CLI and SDKs read from `~/.aws/credentials`
//! and `~/.aws/config`, which object_store's `AmazonS3Builder::from_env`
//! does not. The environment wins, as it does for the AWS CLI
//! (<https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html>):
//! a profile fills only what no `AWS_*` variable set.
//!
//! The profile is `AWS_PROFILE`, else `default`; the files are
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`, else those in
//! `~/.aws/`. From the credentials file: `aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`; from the config file
//! (section `[profile NAME]`, or `[default]`): `region` and `endpoint_url`,
//! and the keys too where the credentials file has none. Profiles that
//! get keys from elsewhere (SSO, `credential_process`, `role_arn`) are not
//! followed: export the keys they give (`aws configure
//! export-credentials --format env`).
//!
//! An endpoint given as `http://...` is used without TLS, as the AWS CLI
//! uses it (object_store alone would also want `AWS_ALLOW_HTTP=true`).

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use ini::Ini;
use object_store::aws::AmazonS3Builder;

/// `builder` (made from the environment) with what the profile adds, and
/// whether keys were found in either (without them object_store asks the
/// instance metadata service, as on EC2).
pub fn apply(builder: AmazonS3Builder) -> Result<(AmazonS3Builder, bool)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let named = env("AWS_PROFILE");
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let home = env("HOME").map(|h| PathBuf::from(h).join(".aws"));
    let file = |var: &str, default: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let read = |path: Option<PathBuf>| -> Result<Option<Ini>> {
        let Some(path) = path.filter(|p| p.exists()) else {
            return Ok(None);
        };
        Ini::load_from_file(&path)
            .map(Some)
            .map_err(|e| anyhow!("{}: {e}", path.display()))
    };
    let credentials = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?;
    let config = read(file("AWS_CONFIG_FILE", "config"))?;
    let config_section = if name == "default" {
        name.clone()
    } else {
        format!("profile {name}")
    };
    let from_credentials = credentials
        .as_ref()
        .and_then(|c| c.section(Some(name.as_str())));
    let from_config = config
        .as_ref()
        .and_then(|c| c.section(Some(config_section.as_str())));
    if named.is_some() && from_credentials.is_none() && from_config.is_none() {
        bail!("AWS_PROFILE={name}: no such profile in the AWS credentials or config file");
    }
    let get = |key: &str| {
        from_credentials
            .and_then(|s| s.get(key))
            .or_else(|| from_config.and_then(|s| s.get(key)))
            .map(str::to_string)
    };

    let mut builder = builder;
    let mut keys = env("AWS_ACCESS_KEY_ID").is_some();
    if !keys
        && let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key"))
    {
        keys = true;
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
        if let Some(token) = get("aws_session_token") {
            builder = builder.with_token(token);
        }
    }
    if env("AWS_REGION").is_none()
        && env("AWS_DEFAULT_REGION").is_none()
        && let Some(region) = from_config.and_then(|s| s.get("region"))
    {
        builder = builder.with_region(region);
    }
    if ["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .all(|v| env(v).is_none())
        && let Some(endpoint) = from_config.and_then(|s| s.get("endpoint_url"))
    {
        builder = builder.with_endpoint(endpoint);
    }
    // The endpoint's scheme says whether it speaks TLS, as for the AWS CLI:
    // `AWS_ENDPOINT_URL=http://127.0.0.1:9000` needs no AWS_ALLOW_HTTP too.
    let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|v| env(v))
        .or_else(|| {
            from_config
                .and_then(|s| s.get("endpoint_url"))
                .map(str::to_string)
        });
    if endpoint.is_some_and(|e| e.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    Ok((builder, keys))
}
