//! Statistics of a device's readings, as aggregation pipelines computed in the database: one
//! `$group` over the range and, with a bucket width, one `$group` per epoch-aligned bucket. Only
//! the aggregates cross the network, never the readings.

use mongodb::bson::{Bson, Document, doc};
use praan_core::{
    domain::{DeviceId, Metric, PerMetric, Timestamp, ValidationError},
    store::{BucketStats, MetricStats, Statistics, StatsQuery, StoreResult},
};

use crate::{MongoStore, error, records};

/// The aggregates of one group, for every metric: how many readings carry it (`<m>_n`), its min,
/// max and mean (`$min`, `$max` and `$avg` skip readings without it), and the group's `count`.
fn group(id: Bson) -> Document {
    let mut group = doc! { "_id": id, "count": { "$sum": 1 } };
    for m in Metric::ALL {
        let field = format!("${}", m.name());
        group.insert(
            format!("{}_n", m.name()),
            doc! { "$sum": { "$cond": [{ "$isNumber": &field }, 1, 0] } },
        );
        group.insert(format!("{}_min", m.name()), doc! { "$min": &field });
        group.insert(format!("{}_max", m.name()), doc! { "$max": &field });
        group.insert(format!("{}_avg", m.name()), doc! { "$avg": &field });
    }
    group
}

/// The start of the bucket of width `width_ms` holding the reading, in Unix milliseconds: the
/// timestamp floored to a multiple of the width (also before 1970, where `$mod` is negative).
fn bucket_start(width_ms: i64) -> Bson {
    let ms = doc! { "$toLong": "$timestamp" };
    let offset =
        doc! { "$mod": [{ "$add": [{ "$mod": [ms.clone(), width_ms] }, width_ms] }, width_ms] };
    Bson::Document(doc! { "$subtract": [ms, offset] })
}

/// An integer aggregate (`$sum` yields an int32 or int64 as the total requires).
fn count(d: &Document, key: &str) -> Result<u64, ValidationError> {
    let n = match d.get(key) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => return Err(ValidationError::new(key.to_owned(), "is not an integer")),
    };
    u64::try_from(n).map_err(|_| ValidationError::new(key.to_owned(), "is negative"))
}

/// A numeric aggregate, `None` when no reading had a value.
fn number(d: &Document, key: &str) -> Option<f64> {
    match d.get(key) {
        Some(Bson::Double(v)) => Some(*v),
        Some(Bson::Int32(v)) => Some(f64::from(*v)),
        Some(Bson::Int64(v)) => Some(*v as f64),
        _ => None,
    }
}

fn metrics(d: &Document) -> Result<PerMetric<MetricStats>, ValidationError> {
    let mut out = PerMetric::<MetricStats>::default();
    for m in Metric::ALL {
        let n = count(d, &format!("{}_n", m.name()))?;
        if n > 0 {
            out[m] = MetricStats {
                count: n,
                min: number(d, &format!("{}_min", m.name())),
                max: number(d, &format!("{}_max", m.name())),
                avg: number(d, &format!("{}_avg", m.name())),
            };
        }
    }
    Ok(out)
}

fn bucket(d: &Document) -> Result<BucketStats, ValidationError> {
    let start = match d.get("_id") {
        Some(Bson::Int64(ms)) => Timestamp::from_unix_millis(*ms)?,
        _ => return Err(ValidationError::new("_id", "is not a bucket start")),
    };
    Ok(BucketStats {
        start,
        count: count(d, "count")?,
        metrics: metrics(d)?,
    })
}

impl MongoStore {
    async fn aggregate(&self, pipeline: Vec<Document>, doing: &str) -> StoreResult<Vec<Document>> {
        let mut cursor = self
            .readings
            .aggregate(pipeline)
            .allow_disk_use(true)
            .await
            .map_err(|e| error::failed(e, doing.to_owned()))?;
        let mut out = Vec::new();
        while cursor
            .advance()
            .await
            .map_err(|e| error::failed(e, doing.to_owned()))?
        {
            let d = cursor
                .deserialize_current()
                .map_err(|e| error::failed(e, doing.to_owned()))?;
            out.push(d);
        }
        Ok(out)
    }

    pub(super) async fn compute_statistics(
        &self,
        id: &DeviceId,
        query: &StatsQuery,
    ) -> StoreResult<Statistics> {
        let matching = doc! { "$match": {
            "deviceId": id.as_str(),
            "timestamp": {
                "$gte": records::to_bson(query.start),
                "$lt": records::to_bson(query.end),
            },
        } };
        let doing = format!("computing statistics of device {id}");
        let overall = self.aggregate(
            vec![matching.clone(), doc! { "$group": group(Bson::Null) }],
            &doing,
        );
        let series = async {
            match query.bucket {
                Some(width) => {
                    let pipeline = vec![
                        matching.clone(),
                        doc! { "$group": group(bucket_start(width.millis())) },
                        doc! { "$sort": { "_id": 1 } },
                    ];
                    self.aggregate(pipeline, &doing).await.map(Some)
                }
                None => Ok(None),
            }
        };
        let (overall, series) = tokio::try_join!(overall, series)?;
        let corrupt = |e| error::corrupt(e, format!("decoding the {doing}"));
        let (count, metrics) = match overall.first() {
            Some(d) => (
                count(d, "count").map_err(corrupt)?,
                metrics(d).map_err(corrupt)?,
            ),
            None => (0, PerMetric::default()),
        };
        let buckets = series
            .map(|docs| docs.iter().map(bucket).collect::<Result<Vec<_>, _>>())
            .transpose()
            .map_err(corrupt)?;
        Ok(Statistics {
            start: query.start,
            end: query.end,
            count,
            metrics,
            buckets,
        })
    }
}
