//! `lock: dynamodb`: the lock is an item in a DynamoDB table (partition key `LockID`, a string)
//! keyed `<bucket>/<key>`, taken with a conditional PutItem that succeeds only when no lock
//! exists or the existing lock's lease has passed.
//!
//! Item attributes: `LockID` (S), `Holder` (S, the lock id), `Info` (S, [`LockInfo`] JSON) and
//! `Expires` (N, Unix seconds; absent when the lock has no lease).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use strata_engine::state::{LockInfo, StateError};

pub(super) struct DynamoLock {
    pub client: Client,
    pub table: String,
    pub lock_id: String,
}

fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()).is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn expires_epoch(info: &LockInfo) -> Option<i64> {
    info.expires.as_deref().and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok()).map(|t| t.timestamp())
}

impl DynamoLock {
    fn io<E>(&self, op: &str, e: E) -> StateError
    where
        E: std::error::Error + 'static,
    {
        StateError::Io {
            location: format!("dynamodb table {} item {}", self.table, self.lock_id),
            message: format!("{op}: {}", DisplayErrorContext(e)),
        }
    }

    fn parse(&self, item: &HashMap<String, AttributeValue>) -> Result<LockInfo, StateError> {
        let info = item.get("Info").and_then(|v| v.as_s().ok()).ok_or_else(|| StateError::Corrupt {
            message: format!("lock item {} in dynamodb table {} has no `Info` string", self.lock_id, self.table),
        })?;
        serde_json::from_str(info).map_err(|e| StateError::Corrupt {
            message: format!("lock item {} in dynamodb table {}: {e}", self.lock_id, self.table),
        })
    }

    pub async fn status(&self) -> Result<Option<LockInfo>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("LockID", s(&self.lock_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.io("GetItem", e))?;
        out.item().map(|i| self.parse(i)).transpose()
    }

    /// `info` already carries its lease.
    pub async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let body = serde_json::to_string(info).expect("lock info serializes");
        let now = chrono::Utc::now().timestamp();
        for _ in 0..5 {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("LockID", s(&self.lock_id))
                .item("Holder", s(&info.id))
                .item("Info", s(&body))
                .condition_expression("attribute_not_exists(LockID) OR #e < :now")
                .expression_attribute_names("#e", "Expires")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
            if let Some(exp) = expires_epoch(info) {
                put = put.item("Expires", AttributeValue::N(exp.to_string()));
            }
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(e) if is_condition_failed(&e) => match self.status().await? {
                    // A retry of our own PutItem that had already succeeded.
                    Some(holder) if holder.id == info.id => return Ok(()),
                    Some(holder) => return Err(StateError::Locked { holder: Box::new(holder) }),
                    // Released in between: try again.
                    None => continue,
                },
                Err(e) => return Err(self.io("PutItem", e)),
            }
        }
        match self.status().await? {
            Some(holder) => Err(StateError::Locked { holder: Box::new(holder) }),
            None => Err(StateError::Io {
                location: format!("dynamodb table {}", self.table),
                message: "the lock kept changing while it was being taken; try again".into(),
            }),
        }
    }

    pub async fn renew(&self, id: &str, lease_secs: u64) -> Result<(), StateError> {
        let Some(mut info) = self.status().await? else {
            return Err(StateError::LockMismatch { given: id.to_string(), current: None });
        };
        if info.id != id {
            return Err(StateError::LockMismatch { given: id.to_string(), current: Some(Box::new(info)) });
        }
        let expires = chrono::Utc::now() + chrono::Duration::seconds(lease_secs as i64);
        info.expires = Some(expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let body = serde_json::to_string(&info).expect("lock info serializes");
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .key("LockID", s(&self.lock_id))
            .update_expression("SET #i = :info, #e = :exp")
            .condition_expression("Holder = :id")
            .expression_attribute_names("#i", "Info")
            .expression_attribute_names("#e", "Expires")
            .expression_attribute_values(":info", s(body))
            .expression_attribute_values(":exp", AttributeValue::N(expires.timestamp().to_string()))
            .expression_attribute_values(":id", s(id))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StateError::LockMismatch { given: id.to_string(), current: self.status().await?.map(Box::new) })
            }
            Err(e) => Err(self.io("UpdateItem", e)),
        }
    }

    pub async fn unlock(&self, id: &str) -> Result<(), StateError> {
        match self.status().await? {
            Some(current) if current.id == id => {}
            current => {
                return Err(StateError::LockMismatch { given: id.to_string(), current: current.map(Box::new) });
            }
        }
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("LockID", s(&self.lock_id))
            .condition_expression("Holder = :id")
            .expression_attribute_values(":id", s(id))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => match self.status().await? {
                // Our lock a moment ago and gone now: a retried DeleteItem whose first attempt
                // had already removed it.
                None => Ok(()),
                current => Err(StateError::LockMismatch { given: id.to_string(), current: current.map(Box::new) }),
            },
            Err(e) => Err(self.io("DeleteItem", e)),
        }
    }
}
