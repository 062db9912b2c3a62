//! Starts a moto server (a local implementation of the S3 and DynamoDB protocols) for tests.
//!
//! Include with `#[path = "../../tests/support/moto.rs"] mod moto;` in a crate that dev-depends
//! on `strata-testkit` with its `moto` feature. The launcher is `strata_testkit::moto` (the
//! binary from `STRATA_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`, else `PATH`; a
//! missing moto fails the test with the setup command: it never passes silently); this file
//! adds the S3 and DynamoDB clients the state tests arrange things with.

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::OnceLock;

#[allow(unused_imports)]
pub use strata_testkit::moto::moto_binary;

/// A running moto_server (see `strata_testkit::moto::Moto`: `endpoint`, `port`, `log`).
/// Dropping it stops the server.
pub struct Moto(strata_testkit::moto::Moto);

impl Deref for Moto {
    type Target = strata_testkit::moto::Moto;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it answers.
    pub fn start() -> Result<Moto, String> {
        strata_testkit::moto::Moto::start().map(Moto)
    }

    pub fn start_with(bin: &std::path::Path) -> Result<Moto, String> {
        strata_testkit::moto::Moto::start_with(bin).map(Moto)
    }

    /// One server for the whole test binary. Panics (fails the test) if moto is missing.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
        match MOTO.get_or_init(Moto::start) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Clients for arranging and inspecting what the tests use (buckets, lock tables), with moto's
/// fake credentials, in us-east-1.
impl Moto {
    /// An S3 client (path-style addressing, as moto serves buckets).
    pub fn s3_admin(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_s3::Config::builder()
            .http_client(strata_provider_aws::https_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A DynamoDB client.
    pub fn dynamodb_admin(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_dynamodb::Config::builder()
            .http_client(strata_provider_aws::https_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// Creates a lock table of the shape strata's DynamoDB locking uses (hash key `LockID`).
    pub async fn create_lock_table(&self, table: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.dynamodb_admin()
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("LockID")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("LockID")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key schema"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create lock table");
    }
}
