//! AWS-managed CloudFront policies, by name. Every account has them; a cache behavior can name
//! one (`managed_cache_policy: CachingOptimized`) instead of creating a policy.
//!
//! Names are accepted with or without the `Managed-` prefix the console shows.

/// Managed cache policies (name, id).
pub const CACHE_POLICIES: &[(&str, &str)] = &[
    ("Amplify", "2e54312d-136d-493c-8eb9-b001f22f67d2"),
    ("CachingDisabled", "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
    ("CachingOptimized", "658327ea-f89d-4fab-a63d-7e88639e58f6"),
    ("CachingOptimizedForUncompressedObjects", "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"),
    ("Elemental-MediaPackage", "08627262-05a9-4f76-9ded-b50ca2e3a84f"),
    ("UseOriginCacheControlHeaders", "83da9c7e-98b4-4e11-a168-04f0df8e2c65"),
    ("UseOriginCacheControlHeaders-QueryStrings", "4cc15a8a-d715-48a4-82b8-cc0b614638fe"),
];

/// Managed origin request policies (name, id).
pub const ORIGIN_REQUEST_POLICIES: &[(&str, &str)] = &[
    ("AllViewer", "216adef6-5c7f-47e4-b989-5492eafa07d3"),
    ("AllViewerAndCloudFrontHeaders-2022-06", "33f36d7e-f396-46d9-90e0-52428a34d9dc"),
    ("AllViewerExceptHostHeader", "b689b0a8-53d0-40ab-baf2-68738e2966ac"),
    ("CORS-CustomOrigin", "59781a5b-3903-41f3-afcb-af62929ccde1"),
    ("CORS-S3Origin", "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"),
    ("Elemental-MediaTailor-PersonalizedManifests", "775133bc-15f2-49f9-abea-afb2e0bf67d2"),
    ("HostHeaderOnly", "bf0718e1-ba1e-49d1-88b1-f726733018ae"),
    ("UserAgentRefererHeaders", "acba4595-bd28-49b8-b9fe-13317c0390fa"),
];

/// Managed response headers policies (name, id).
pub const RESPONSE_HEADERS_POLICIES: &[(&str, &str)] = &[
    ("CORS-and-SecurityHeadersPolicy", "e61eb60c-9c35-4d20-a928-2b84e02af89c"),
    ("CORS-With-Preflight", "5cc3b908-e619-4b99-88e5-2cf7f45965bd"),
    ("CORS-with-preflight-and-SecurityHeadersPolicy", "eaab4381-ed33-4a86-88ca-d9558dc6cd63"),
    ("SecurityHeadersPolicy", "67f7725c-6f97-4210-82d7-5512b31e9d03"),
    ("SimpleCORS", "60669652-455b-4ae9-85a4-c4c02393f86c"),
];

fn strip(name: &str) -> &str {
    name.strip_prefix("Managed-").unwrap_or(name)
}

/// The id of a managed policy by name (`CachingOptimized` or `Managed-CachingOptimized`;
/// case-insensitive).
pub fn id_by_name(table: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    let name = strip(name);
    table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, id)| *id)
}

/// The canonical name (without `Managed-`) of a managed policy by id.
pub fn name_by_id(table: &[(&'static str, &str)], id: &str) -> Option<&'static str> {
    table.iter().find(|(_, i)| *i == id).map(|(n, _)| *n)
}

/// Whether two spellings name the same managed policy.
pub fn same_name(a: &str, b: &str) -> bool {
    strip(a).eq_ignore_ascii_case(strip(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_both_ways() {
        assert_eq!(
            id_by_name(CACHE_POLICIES, "Managed-CachingOptimized"),
            Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
        );
        assert_eq!(id_by_name(CACHE_POLICIES, "cachingdisabled"), Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"));
        assert_eq!(name_by_id(ORIGIN_REQUEST_POLICIES, "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"), Some("CORS-S3Origin"));
        assert!(id_by_name(CACHE_POLICIES, "Nope").is_none());
        assert!(same_name("Managed-AllViewer", "allviewer"));
    }
}
