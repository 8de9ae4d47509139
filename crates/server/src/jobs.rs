//! The job log and starting runs: `GET /jobs`, `GET /jobs/{job}` (a run by id) and
//! `POST /jobs/{job}` (a run of that job, admin only; the service never runs one job twice at
//! once).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use candlekeep_app::jobs::{JobArgs, JobKind};
use candlekeep_app::service::StartError;
use candlekeep_store::{JobLog, JobQuery as StoreJobQuery, JobRow, JobStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::require_admin;
use crate::params::{self, iso};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Only runs of this job (sync, backfill, …).
    #[param(value_type = Option<crate::docs::JobName>)]
    pub job: Option<String>,
    /// Only runs with this status: running, ok, failed or interrupted.
    #[param(value_type = Option<crate::docs::RunStatusName>)]
    pub status: Option<String>,
    /// At most this many, 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only runs with an id below this (the next page: the last id seen).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub events: String,
}

/// One run of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRun {
    pub id: i64,
    #[schema(example = "sync")]
    pub job: String,
    /// What started it and with which arguments.
    pub args: String,
    #[schema(example = "ok")]
    pub status: String,
    pub started_at: String,
    pub started_ms: i64,
    pub ended_at: Option<String>,
    pub ended_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub rows_written: i64,
    /// Candles written per source.
    pub sources: std::collections::BTreeMap<String, i64>,
    pub error: Option<String>,
    /// What kind of failure ended it (`source:banned`, `store`, `interrupted`, …).
    pub error_kind: Option<String>,
    pub links: JobLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobRuns {
    pub jobs: Vec<JobRun>,
}

fn links(id: i64) -> JobLinks {
    JobLinks {
        this: format!("/api/v1/jobs/{id}"),
        events: "/api/v1/events".into(),
    }
}

fn run(r: JobRow) -> JobRun {
    let sources = r
        .sources_used
        .split(',')
        .filter_map(|p| {
            let (s, n) = p.split_once('=')?;
            Some((s.trim().to_owned(), n.trim().parse().ok()?))
        })
        .collect();
    JobRun {
        links: links(r.id),
        id: r.id,
        job: r.job,
        args: r.args,
        status: r.status,
        started_at: iso(r.started_at),
        started_ms: r.started_at,
        ended_at: r.ended_at.map(iso),
        ended_ms: r.ended_at,
        duration_ms: r.ended_at.map(|e| e - r.started_at),
        rows_written: r.rows_written,
        sources,
        error: r.error,
        error_kind: r.error_kind,
    }
}

fn job_names() -> String {
    JobKind::ALL.map(JobKind::as_str).join(", ")
}

/// The job log, newest first.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    params(JobQuery),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Runs, newest first", body = JobRuns),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_jobs(State(state): State<ApiState>, Query(q): Query<JobQuery>) -> ApiResult<Json<JobRuns>> {
    let job = q.job;
    if let Some(j) = job.as_ref().filter(|j| JobKind::parse(j).is_none()) {
        return Err(ApiError::bad(
            "job",
            format!("unknown job {j:?}; the jobs are {}", job_names()),
        ));
    }
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            [
                JobStatus::Running,
                JobStatus::Ok,
                JobStatus::Failed,
                JobStatus::Interrupted,
            ]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ApiError::bad(
                    "status",
                    format!("expected running, ok, failed or interrupted, got {s:?}"),
                )
            })?,
        ),
    };
    let limit = params::limit("limit", q.limit.as_deref(), 50, 1_000)?;
    let before_id = match q.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            b.parse::<i64>()
                .ok()
                .filter(|id| *id >= 1)
                .ok_or_else(|| ApiError::bad("before", format!("expected a run id (1 or more), got {b:?}")))?,
        ),
    };
    let query = StoreJobQuery {
        job,
        status,
        before_id,
        limit,
    };
    let jobs = state.store().jobs(query).await?.into_iter().map(run).collect();
    Ok(Json(JobRuns { jobs }))
}

/// One run.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The run", body = JobRun),
        (status = 400, description = "Not a run id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<JobRun>> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad("id", format!("expected a run id (a number), got {id:?}")))?;
    state
        .store()
        .job(id)
        .await?
        .map(|r| Json(run(r)))
        .ok_or_else(|| ApiError::NotFound(format!("no run {id} in the job log")))
}

/// A run just started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    pub id: i64,
    pub job: String,
    #[schema(example = "running")]
    pub status: String,
    pub links: JobLinks,
}

/// Starts a run of `kind` for a request with `headers` and `body` (see [`crate::start`]).
pub(crate) async fn start(state: &ApiState, kind: JobKind, headers: &HeaderMap, body: &[u8]) -> ApiResult<Response> {
    require_admin(state, headers)?;
    let args = parse_args(body)?;
    let id = state.service().start(kind, args, "api").await.map_err(|e| match e {
        StartError::Busy { .. } => ApiError::Conflict(e.to_string()),
        StartError::Invalid(e) => {
            let message = format!("{e:#}");
            // JobArgs::check begins its message with the argument at fault.
            let field = message.split_once(':').map_or("body", |(f, _)| f.trim()).to_owned();
            ApiError::Invalid { field, detail: message }
        }
        StartError::ShuttingDown => ApiError::Unavailable(e.to_string()),
        StartError::Store(e) => ApiError::Store(e),
    })?;
    let started = Started {
        id,
        job: kind.as_str().to_owned(),
        status: "running".into(),
        links: links(id),
    };
    let mut response = (StatusCode::ACCEPTED, Json(started)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The body as job arguments: empty means none; not JSON is a 400, JSON that does not fit
/// (an unknown or mistyped member) a 422 naming the member.
fn parse_args(body: &[u8]) -> ApiResult<JobArgs> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(JobArgs::default());
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad("body", format!("not JSON: {e}")))?;
    let mut object = match value {
        serde_json::Value::Null => return Ok(JobArgs::default()),
        serde_json::Value::Object(object) => object,
        _ => {
            return Err(ApiError::invalid(
                "body",
                "expected a JSON object of the job's arguments",
            ));
        }
    };
    // JSON has one kind of number: 30.0 is the integer 30 (as JSON Schema says), which serde
    // would refuse for a count.
    for v in object.values_mut() {
        let integral = v
            .as_f64()
            .filter(|n| !v.is_u64() && n.fract() == 0.0 && (0.0..=4_294_967_295.0).contains(n));
        if let Some(n) = integral {
            *v = serde_json::Value::from(n as u64);
        }
    }
    serde_json::from_value(serde_json::Value::Object(object.clone())).map_err(|e| {
        // serde names an unknown member but not a mistyped one: the member that fails alone is it.
        let field = object
            .iter()
            .find(|(k, v)| {
                let alone = serde_json::Map::from_iter([((*k).clone(), (*v).clone())]);
                serde_json::from_value::<JobArgs>(serde_json::Value::Object(alone)).is_err()
            })
            .map_or("body", |(k, _)| k.as_str());
        ApiError::invalid(field, e)
    })
}
