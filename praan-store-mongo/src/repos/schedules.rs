//! [`ScheduleRepo`]: `schedules` and their history in `schedule_runs`.

use async_trait::async_trait;
use mongodb::bson::doc;
use praan_core::{
    domain::{DeviceId, Schedule, ScheduleId, ScheduleRun},
    store::{Limit, ScheduleRepo, StoreError, StoreResult},
};

use super::{all, decode};
use crate::{
    MongoStore, error,
    records::{RunRecord, ScheduleRecord},
};

#[async_trait]
impl ScheduleRepo for MongoStore {
    async fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        self.schedules
            .insert_one(ScheduleRecord::from(schedule))
            .await
            .map(drop)
            .map_err(|e| error::on_record(e, "inserting", "schedule", schedule.schedule_id))
    }

    async fn update_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        let id = schedule.schedule_id;
        let result = self
            .schedules
            .replace_one(
                doc! { "_id": id.to_string() },
                ScheduleRecord::from(schedule),
            )
            .await
            .map_err(|e| error::on_record(e, "updating", "schedule", id))?;
        if result.matched_count == 0 {
            return Err(StoreError::not_found("schedule", id));
        }
        Ok(())
    }

    async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<()> {
        let result = self
            .schedules
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| error::on_record(e, "deleting", "schedule", id))?;
        if result.deleted_count == 0 {
            return Err(StoreError::not_found("schedule", id));
        }
        Ok(())
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<Schedule>> {
        let doing = format!("reading schedule {id}");
        self.schedules
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "schedule", &doing))
            .transpose()
    }

    async fn schedules_for_device(&self, id: &DeviceId) -> StoreResult<Vec<Schedule>> {
        let doing = format!("listing the schedules of device {id}");
        let cursor = self
            .schedules
            .find(doc! { "deviceId": id.as_str() })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        all(cursor, "schedule", &doing).await
    }

    async fn active_schedules(&self) -> StoreResult<Vec<Schedule>> {
        let doing = "listing active schedules";
        let cursor = self
            .schedules
            .find(doc! { "isActive": true })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        all(cursor, "schedule", doing).await
    }

    async fn insert_run(&self, run: &ScheduleRun) -> StoreResult<()> {
        self.runs
            .insert_one(RunRecord::from(run))
            .await
            .map(drop)
            .map_err(|e| error::on_record(e, "inserting", "run", run.run_id))
    }

    async fn runs_for_schedule(
        &self,
        id: ScheduleId,
        limit: Limit,
    ) -> StoreResult<Vec<ScheduleRun>> {
        let doing = format!("listing the runs of schedule {id}");
        let cursor = self
            .runs
            .find(doc! { "scheduleId": id.to_string() })
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(i64::from(limit.get()))
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        all(cursor, "run", &doing).await
    }
}
