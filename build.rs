//! Build script: turns the nginx configuration detected by `nginx-sys`
//! (exported to direct dependents as `DEP_NGINX_*`) into `cfg` flags, so the
//! module can adapt to the nginx it is built against (feature set, OS and
//! version), the way ngx-rust modules do.

use std::env;

/// nginx versions at which a struct layout or API that this module touches changed.
const VERSION_GATES: &[(u64, &str)] = &[
    // ngx_table_elt_t gained `next` (header chaining) in 1.23.0.
    (1_023_000, "ngx_1_23"),
];

fn main() {
    for var in [
        "DEP_NGINX_FEATURES",
        "DEP_NGINX_FEATURES_CHECK",
        "DEP_NGINX_OS",
        "DEP_NGINX_OS_CHECK",
        "DEP_NGINX_VERSION_NUMBER",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }

    let features_check = env::var("DEP_NGINX_FEATURES_CHECK").unwrap_or_else(|_| "any()".into());
    println!("cargo::rustc-check-cfg=cfg(ngx_feature, values({features_check}))");
    if let Ok(features) = env::var("DEP_NGINX_FEATURES") {
        for feature in features.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            println!("cargo::rustc-cfg=ngx_feature=\"{feature}\"");
        }
    }

    let os_check = env::var("DEP_NGINX_OS_CHECK").unwrap_or_else(|_| "any()".into());
    println!("cargo::rustc-check-cfg=cfg(ngx_os, values({os_check}))");
    if let Ok(os) = env::var("DEP_NGINX_OS") {
        println!("cargo::rustc-cfg=ngx_os=\"{os}\"");
    }

    let version: u64 = env::var("DEP_NGINX_VERSION_NUMBER")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    for (number, name) in VERSION_GATES {
        println!("cargo::rustc-check-cfg=cfg({name})");
        if version >= *number {
            println!("cargo::rustc-cfg={name}");
        }
    }
}
