//! [`CommandRepo`]: the outbox in `commands`; idempotency keys are unique per device through a
//! unique partial index, so two concurrent requests with one key cannot both be stored.

use async_trait::async_trait;
use mongodb::bson::doc;
use praan_core::{
    domain::{Command, CommandId, CommandStatus, DeviceId, IdempotencyKey},
    store::{CommandFilter, CommandRepo, StoreError, StoreResult},
};

use super::{all, decode};
use crate::{MongoStore, error, records::CommandRecord};

#[async_trait]
impl CommandRepo for MongoStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        self.commands
            .insert_one(CommandRecord::from(command))
            .await
            .map(drop)
            .map_err(|e| error::on_record(e, "inserting", "command", command.command_id))
    }

    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        let id = command.command_id;
        let result = self
            .commands
            .replace_one(doc! { "_id": id.to_string() }, CommandRecord::from(command))
            .await
            .map_err(|e| error::on_record(e, "updating", "command", id))?;
        if result.matched_count == 0 {
            return Err(StoreError::not_found("command", id));
        }
        Ok(())
    }

    async fn get_command(&self, id: CommandId) -> StoreResult<Option<Command>> {
        let doing = format!("reading command {id}");
        self.commands
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "command", &doing))
            .transpose()
    }

    async fn commands_for_device(
        &self,
        id: &DeviceId,
        filter: &CommandFilter,
    ) -> StoreResult<Vec<Command>> {
        let mut query = doc! { "deviceId": id.as_str() };
        if let Some(status) = filter.status {
            query.insert("status", status.as_str());
        }
        let doing = format!("listing the commands of device {id}");
        let cursor = self
            .commands
            .find(query)
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .limit(i64::from(filter.limit.get()))
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        all(cursor, "command", &doing).await
    }

    async fn unfinished_commands(&self) -> StoreResult<Vec<Command>> {
        let open = [CommandStatus::Pending, CommandStatus::Sent].map(CommandStatus::as_str);
        let doing = "listing unfinished commands";
        let cursor = self
            .commands
            .find(doc! { "status": { "$in": open.to_vec() } })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        all(cursor, "command", doing).await
    }

    async fn command_by_idempotency_key(
        &self,
        id: &DeviceId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Command>> {
        let doing = format!("finding the command of device {id} with idempotency key {key:?}");
        self.commands
            .find_one(doc! { "deviceId": id.as_str(), "idempotencyKey": key.as_str() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "command", &doing))
            .transpose()
    }
}
