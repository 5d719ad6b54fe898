//! The operator console at `/console`, server-rendered by the binary itself (no external assets,
//! a strict Content-Security-Policy): bindings with their owner, epoch and backlog; deliveries by
//! state, binding, chat and age, page by page; one delivery with its attempts and last error
//! (redacted, escaped), retried or dead-lettered with a click; and redrive by filter, previewed
//! (a dry run) before it is done; the sessions rendered here with their recent events, and the
//! approvals and questions waiting for an answer. Sign-in is the admin token, kept in a signed session cookie;
//! every action needs the session's CSRF token.

mod html;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cowork_cloud_client::{EventBody, SessionId};
use cowork_providers::BindingId;
use serde::Deserialize;

use html::{csrf_field, escape, notice, page, table};
use session::{Session, Sessions};

use super::deliveries::{delivery_id, parse_id};
use crate::config::GatewayConfig;
use crate::services::Services;
use crate::store::{DeliveryFilter, DeliveryRecord, DeliveryState, OperatorChange, OutboxId, RedriveRequest};

/// Deliveries per page.
const PAGE: u32 = 50;

/// The most a redrive resets at once.
const REDRIVE_MAX: u32 = 1000;

/// What every console page may show: nothing from elsewhere, no script at all.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

#[derive(Clone)]
struct ConsoleState {
    services: Arc<Services>,
    /// `None` when no admin token is configured: the console stays shut.
    sessions: Option<Sessions>,
}

/// The console's routes (outside the operator API's bearer-token layer: it has its own sign-in).
pub fn router(services: Arc<Services>, config: &GatewayConfig) -> Router {
    let sessions = config.operator.admin_token.clone().map(Sessions::new);
    Router::new()
        .route("/console", get(home))
        .route("/console/style.css", get(style))
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .route("/console/deliveries", get(deliveries))
        .route("/console/deliveries/{id}", get(delivery))
        .route("/console/deliveries/{id}/retry", post(retry))
        .route("/console/deliveries/{id}/dead-letter", post(dead_letter))
        .route("/console/redrive", get(redrive_preview).post(redrive))
        .route("/console/sessions", get(sessions_page))
        .route("/console/sessions/{id}", get(session_events))
        .with_state(ConsoleState { services, sessions })
}

/// An HTML answer with the console's security headers.
fn respond(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn redirect(to: &'static str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static(to));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    secure(headers);
    response
}

/// Why a console request is not served.
enum Refusal {
    /// No admin token is configured: the console stays shut.
    Shut,
    /// No valid session: the sign-in form.
    SignIn,
    /// An action without the session's CSRF token (the session's own, for the page's forms).
    Forged { csrf: String },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Shut => {
                let body = notice("error", "The console needs OPEN_COWORK_GATEWAY_ADMIN_TOKEN to be set.");
                respond(StatusCode::FORBIDDEN, page("Console", None, &body))
            }
            Self::SignIn => login_page(StatusCode::UNAUTHORIZED, None),
            Self::Forged { csrf } => {
                let body = notice("error", "This form has expired or did not come from the console; reload the page.");
                respond(StatusCode::FORBIDDEN, page("Refused", Some(&csrf), &body))
            }
        }
    }
}

impl ConsoleState {
    /// The signed-in session.
    fn session(&self, headers: &HeaderMap) -> Result<(&Sessions, Session), Refusal> {
        let sessions = self.sessions.as_ref().ok_or(Refusal::Shut)?;
        let session = sessions.check(headers, self.services.clock.now_ms()).ok_or(Refusal::SignIn)?;
        Ok((sessions, session))
    }

    /// [`Self::session`] for an action: the form's CSRF token must be the session's too.
    fn action(&self, headers: &HeaderMap, form: &Form) -> Result<Session, Refusal> {
        let (sessions, session) = self.session(headers)?;
        if !sessions.csrf_matches(&session, form.get("csrf").unwrap_or_default()) {
            return Err(Refusal::Forged { csrf: session.csrf });
        }
        Ok(session)
    }
}

/// A URL-encoded form body.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let mut body = error.map(|e| notice("error", e)).unwrap_or_default();
    body.push_str(
        "<form method=\"post\" action=\"/console/login\" class=\"filters\">\
         <label>Admin token<input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus></label>\
         <button type=\"submit\">Sign in</button></form>\
         <p>The token is kept in a secure cookie for twelve hours. Use https, or this machine's own address.</p>",
    );
    respond(status, page("Sign in", None, &body))
}

async fn style() -> Response {
    let mut response = html::STYLE.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    secure(response.headers_mut());
    response
}

async fn login(State(state): State<ConsoleState>, body: Bytes) -> Response {
    let Some(sessions) = &state.sessions else { return Refusal::Shut.into_response() };
    let form = Form::parse(&body);
    if !sessions.token_matches(form.get("token").unwrap_or_default()) {
        return login_page(StatusCode::UNAUTHORIZED, Some("That is not the admin token."));
    }
    tracing::info!("an operator signed in to the console");
    redirect("/console", Some(sessions.issue(state.services.clock.now_ms())))
}

async fn logout(State(state): State<ConsoleState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = state.action(&headers, &Form::parse(&body)) {
        return refused.into_response();
    }
    redirect("/console", Some(Sessions::clear()))
}

fn age(now: i64, then: i64) -> String {
    let seconds = (now - then).max(0) / 1000;
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

async fn home(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let s = &state.services;
    let (owners, backlog) = match (s.store.binding_owners().await, s.store.delivery_backlog().await) {
        (Ok(owners), Ok(backlog)) => (owners, backlog),
        (Err(error), _) | (_, Err(error)) => {
            let body = notice("error", &format!("The database did not answer: {error}"));
            return respond(StatusCode::SERVICE_UNAVAILABLE, page("Bindings", Some(&session.csrf), &body));
        }
    };
    let now = s.clock.now_ms();
    let mut bindings: Vec<String> = owners.iter().map(|o| o.binding_id.clone()).collect();
    bindings.extend(backlog.iter().map(|b| b.binding_id.clone()));
    bindings.sort();
    bindings.dedup();
    let rows: Vec<Vec<String>> = bindings
        .iter()
        .map(|binding| {
            let owner = owners.iter().find(|o| &o.binding_id == binding);
            let open = backlog.iter().find(|b| &b.binding_id == binding).cloned().unwrap_or_default();
            let link = |state: &str, n: u64| {
                format!(
                    "<a href=\"/console/deliveries?binding={}&amp;state={state}\">{n}</a>",
                    url::form_urlencoded::byte_serialize(binding.as_bytes()).collect::<String>()
                )
            };
            vec![
                format!("<code>{}</code>", escape(binding)),
                owner.and_then(|o| o.owner_id.as_deref()).map_or_else(|| "<em>none</em>".to_owned(), escape),
                owner.map_or_else(String::new, |o| o.epoch.to_string()),
                link("pending", open.pending),
                link("claimed", open.claimed),
                link("retrying", open.retrying),
                link("dead", open.dead),
                open.oldest_open_created_at.map_or_else(|| "—".to_owned(), |t| age(now, t)),
            ]
        })
        .collect();
    let headers = ["Binding", "Owner", "Epoch", "Pending", "Delivering", "Retrying", "Dead", "Oldest open"];
    let body = table(&headers, &rows, "No bindings yet.");
    respond(StatusCode::OK, page("Bindings", Some(&session.csrf), &body))
}

/// `GET /console/deliveries` filters.
#[derive(Default, Deserialize)]
struct ListQuery {
    state: Option<String>,
    binding: Option<String>,
    chat: Option<String>,
    /// Only deliveries older than this many minutes.
    older: Option<String>,
    /// The next page: rows below this id.
    before: Option<String>,
}

fn nonblank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

async fn deliveries(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let Query(query) = query.unwrap_or_default();
    let s = &state.services;
    let now = s.clock.now_ms();
    let mut problems = Vec::new();
    let filter_state = nonblank(&query.state).and_then(|raw| {
        let parsed = DeliveryState::parse(raw);
        if parsed.is_none() {
            problems.push("The state is one of pending, claimed, sent, failed, dead.");
        }
        parsed
    });
    let older = nonblank(&query.older).and_then(|raw| {
        let parsed = raw.parse::<u32>().ok();
        if parsed.is_none() {
            problems.push("The age is a whole number of minutes.");
        }
        parsed
    });
    let before = nonblank(&query.before).and_then(|raw| parse_id(raw).ok());
    let filter = DeliveryFilter {
        state: filter_state,
        binding_id: nonblank(&query.binding).map(|b| BindingId::new(b.to_owned())),
        limit: PAGE + 1,
        chat_id: nonblank(&query.chat).map(str::to_owned),
        created_before: older.map(|minutes| now - i64::from(minutes) * 60_000),
        before_id: before,
    };
    let mut body: String = problems.iter().map(|p| notice("error", p)).collect();
    body.push_str(&filters_form(&query));
    let mut rows = match s.store.list_deliveries(&filter).await {
        Ok(rows) => rows,
        Err(error) => {
            body.push_str(&notice("error", &format!("The database did not answer: {error}")));
            return respond(StatusCode::SERVICE_UNAVAILABLE, page("Deliveries", Some(&session.csrf), &body));
        }
    };
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    let cells: Vec<Vec<String>> = rows.iter().map(|row| delivery_row(row, now, &state)).collect();
    let headers = ["Delivery", "Binding", "Chat", "Operation", "State", "Attempts", "Last error", "Age"];
    body.push_str(&table(&headers, &cells, "No delivery matches these filters."));
    if let (true, Some(last)) = (more, rows.last()) {
        let mut next: Vec<(String, String)> =
            [("state", &query.state), ("binding", &query.binding), ("chat", &query.chat), ("older", &query.older)]
                .iter()
                .filter_map(|(k, v)| nonblank(v).map(|v| ((*k).to_owned(), v.to_owned())))
                .collect();
        next.push(("before".into(), last.id.0.to_string()));
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(next).finish();
        body.push_str(&format!("<p><a href=\"/console/deliveries?{}\">Older deliveries →</a></p>", escape(&query)));
    }
    respond(StatusCode::OK, page("Deliveries", Some(&session.csrf), &body))
}

fn filters_form(query: &ListQuery) -> String {
    let value = |v: &Option<String>| escape(nonblank(v).unwrap_or_default());
    let selected = |name: &str| if nonblank(&query.state) == Some(name) { " selected" } else { "" };
    let states: String = ["pending", "claimed", "sent", "failed", "dead"]
        .iter()
        .map(|name| format!("<option value=\"{name}\"{}>{name}</option>", selected(name)))
        .collect();
    format!(
        "<form method=\"get\" action=\"/console/deliveries\" class=\"filters\">\
         <label>State<select name=\"state\"><option value=\"\">any</option>{states}</select></label>\
         <label>Binding<input name=\"binding\" value=\"{}\"></label>\
         <label>Chat<input name=\"chat\" value=\"{}\"></label>\
         <label>Older than (minutes)<input name=\"older\" inputmode=\"numeric\" value=\"{}\"></label>\
         <button type=\"submit\">Filter</button></form>",
        value(&query.binding),
        value(&query.chat),
        value(&query.older)
    )
}

fn delivery_row(row: &DeliveryRecord, now: i64, state: &ConsoleState) -> Vec<String> {
    let error = row.last_error.as_deref().map(|e| state.services.redactor.redact(e)).unwrap_or_default();
    vec![
        format!("<a href=\"/console/deliveries/{}\">{}</a>", row.id.0, escape(&delivery_id(row.id))),
        escape(row.binding_id.as_str()),
        escape(&row.chat.chat_id),
        escape(row.operation),
        escape(row.state.as_str()),
        row.attempts.to_string(),
        escape(&error),
        age(now, row.created_at),
    ]
}

async fn delivery(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    detail(&state, &session, &id, None).await
}

/// One delivery's page, after `outcome` (an action's note or error) if any.
async fn detail(state: &ConsoleState, session: &Session, id: &str, outcome: Option<(StatusCode, String)>) -> Response {
    let s = &state.services;
    let Ok(id) = parse_id(id) else {
        return respond(
            StatusCode::BAD_REQUEST,
            page("Delivery", Some(&session.csrf), &notice("error", "No such delivery id.")),
        );
    };
    let (record, attempts) = match (s.store.delivery(id).await, s.store.delivery_attempts(id).await) {
        (Ok(Some(record)), Ok(attempts)) => (record, attempts),
        (Ok(None), _) => {
            let body = notice("error", &format!("There is no delivery {}.", delivery_id(id)));
            return respond(StatusCode::NOT_FOUND, page("Delivery", Some(&session.csrf), &body));
        }
        (Err(error), _) | (_, Err(error)) => {
            let body = notice("error", &format!("The database did not answer: {error}"));
            return respond(StatusCode::SERVICE_UNAVAILABLE, page("Delivery", Some(&session.csrf), &body));
        }
    };
    let now = s.clock.now_ms();
    let redact = |text: &str| escape(&s.redactor.redact(text));
    let (status, mut body) = match outcome {
        Some((status, message)) => {
            let kind = if status.is_success() { "note" } else { "error" };
            (status, notice(kind, &message))
        }
        None => (StatusCode::OK, String::new()),
    };
    body.push_str(&format!(
        "<dl><dt>Delivery</dt><dd><code>{}</code></dd><dt>Binding</dt><dd>{}</dd><dt>Provider</dt><dd>{}</dd>\
         <dt>Chat</dt><dd>{}</dd><dt>Operation</dt><dd>{}</dd><dt>State</dt><dd>{}</dd><dt>Attempts</dt><dd>{}</dd>\
         <dt>Last error</dt><dd>{}</dd><dt>Created</dt><dd>{} ago</dd></dl>",
        escape(&delivery_id(record.id)),
        escape(record.binding_id.as_str()),
        escape(record.provider_id.as_str()),
        escape(&record.chat.chat_id),
        escape(record.operation),
        escape(record.state.as_str()),
        record.attempts,
        record.last_error.as_deref().map_or_else(|| "—".to_owned(), redact),
        age(now, record.created_at),
    ));
    let actions = [
        (matches!(record.state, DeliveryState::Failed | DeliveryState::Dead), "retry", "Retry now", ""),
        (
            matches!(record.state, DeliveryState::Pending | DeliveryState::Failed),
            "dead-letter",
            "Dead-letter",
            " class=\"danger\"",
        ),
    ];
    for (allowed, action, label, class) in actions {
        if allowed {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/console/deliveries/{}/{action}\" class=\"inline\">{}\
                 <button type=\"submit\"{class}>{label}</button></form>",
                record.id.0,
                csrf_field(&session.csrf)
            ));
        }
    }
    body.push_str("<h2>Attempts</h2>");
    let rows: Vec<Vec<String>> = attempts
        .iter()
        .map(|a| {
            vec![
                a.attempt.to_string(),
                escape(a.outcome.as_str()),
                a.error.as_deref().map_or_else(String::new, redact),
                format!("{} ago", age(now, a.at)),
            ]
        })
        .collect();
    body.push_str(&table(&["Attempt", "Outcome", "Error", "When"], &rows, "No attempt yet."));
    respond(status, page(&format!("Delivery {}", delivery_id(record.id)), Some(&session.csrf), &body))
}

async fn retry(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    act(&state, &headers, &id, &body, Action::Retry).await
}

async fn dead_letter(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    act(&state, &headers, &id, &body, Action::DeadLetter).await
}

#[derive(Clone, Copy)]
enum Action {
    Retry,
    DeadLetter,
}

async fn act(state: &ConsoleState, headers: &HeaderMap, id: &str, body: &Bytes, action: Action) -> Response {
    let session = match state.action(headers, &Form::parse(body)) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let s = &state.services;
    let Ok(outbox_id) = parse_id(id) else { return detail(state, &session, id, None).await };
    let now = s.clock.now_ms();
    let (change, done, refused) = match action {
        Action::Retry => (s.store.retry_delivery(outbox_id, now).await, "Retried: it goes out again now.", "retried"),
        Action::DeadLetter => (
            s.store.dead_letter_delivery(outbox_id, "dead-lettered by an operator (console)", now).await,
            "Dead-lettered.",
            "dead-lettered",
        ),
    };
    let outcome = match change {
        Ok(OperatorChange::Applied(_)) => {
            s.wake.outbox.notify_one();
            tracing::info!(delivery_id = %delivery_id(outbox_id), "operator {refused} a delivery (console)");
            (StatusCode::OK, done.to_owned())
        }
        Ok(OperatorChange::Conflict(current)) => {
            (StatusCode::CONFLICT, format!("It is {} now, so it cannot be {refused}.", current.as_str()))
        }
        Ok(OperatorChange::NotFound) => (StatusCode::NOT_FOUND, "There is no such delivery.".to_owned()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("The database did not answer: {error}")),
    };
    detail(state, &session, id, Some(outcome)).await
}

/// A redrive filter, from a query (the preview) or a form (the redrive itself).
struct RedriveFilter {
    state: DeliveryState,
    binding: Option<String>,
    limit: u32,
}

impl RedriveFilter {
    fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, &'static str> {
        let state = match get("state").as_deref().map(str::trim) {
            None | Some("" | "dead") => DeliveryState::Dead,
            Some("failed" | "retrying") => DeliveryState::Failed,
            Some(_) => return Err("Only dead or failed deliveries can be redriven."),
        };
        let binding = get("binding").map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
        let limit = match get("limit").as_deref().map(str::trim) {
            None | Some("") => 100,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=REDRIVE_MAX).contains(&n) => n,
                _ => return Err("The limit is a number from 1 to 1000."),
            },
        };
        Ok(Self { state, binding, limit })
    }

    fn request(&self, dry_run: bool) -> RedriveRequest {
        RedriveRequest {
            state: self.state,
            binding_id: self.binding.clone().map(BindingId::new),
            limit: self.limit,
            dry_run,
        }
    }

    /// The button that redrives exactly what the preview showed (the filter in hidden fields).
    fn confirm(&self, csrf: &str, count: usize) -> String {
        let state = self.state.as_str();
        format!(
            "<form method=\"post\" action=\"/console/redrive\" class=\"inline\">{}\
             <input type=\"hidden\" name=\"state\" value=\"{state}\">\
             <input type=\"hidden\" name=\"binding\" value=\"{}\">\
             <input type=\"hidden\" name=\"limit\" value=\"{}\">\
             <button type=\"submit\">Redrive these {count}</button></form>",
            csrf_field(csrf),
            escape(self.binding.as_deref().unwrap_or_default()),
            self.limit
        )
    }

    /// The preview's filter form.
    fn form(&self, label: &str) -> String {
        let selected = |s: DeliveryState| if self.state == s { " selected" } else { "" };
        format!(
            "<form method=\"get\" action=\"/console/redrive\" class=\"filters\">\
             <label>State<select name=\"state\"><option value=\"dead\"{}>dead</option>\
             <option value=\"failed\"{}>failed</option></select></label>\
             <label>Binding<input name=\"binding\" value=\"{}\"></label>\
             <label>At most<input name=\"limit\" inputmode=\"numeric\" value=\"{}\"></label>\
             <button type=\"submit\">{label}</button></form>",
            selected(DeliveryState::Dead),
            selected(DeliveryState::Failed),
            escape(self.binding.as_deref().unwrap_or_default()),
            self.limit
        )
    }
}

fn id_list(ids: &[OutboxId]) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(20)
        .map(|id| format!("<a href=\"/console/deliveries/{}\">{}</a>", id.0, escape(&delivery_id(*id))))
        .collect();
    let more = if ids.len() > 20 { format!(" and {} more", ids.len() - 20) } else { String::new() };
    format!("<p>{}{more}</p>", shown.join(", "))
}

async fn redrive_preview(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let filter = match RedriveFilter::read(get) {
        Ok(filter) => filter,
        Err(problem) => {
            let default = RedriveFilter { state: DeliveryState::Dead, binding: None, limit: 100 };
            let body = notice("error", problem) + &default.form("Preview");
            return respond(StatusCode::BAD_REQUEST, page("Redrive", Some(&session.csrf), &body));
        }
    };
    let mut body = filter.form("Preview");
    if !query.is_empty() {
        match state.services.store.redrive_deliveries(&filter.request(true), state.services.clock.now_ms()).await {
            Ok(ids) if ids.is_empty() => {
                body.push_str(&notice("note", "Nothing matches: no delivery would be redriven."))
            }
            Ok(ids) => {
                body.push_str(&format!("<h2>{} deliveries would go out again</h2>", ids.len()));
                body.push_str(&id_list(&ids));
                body.push_str(&filter.confirm(&session.csrf, ids.len()));
            }
            Err(error) => body.push_str(&notice("error", &format!("The database did not answer: {error}"))),
        }
    }
    respond(StatusCode::OK, page("Redrive", Some(&session.csrf), &body))
}

async fn redrive(State(state): State<ConsoleState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let session = match state.action(&headers, &form) {
        Ok(session) => session,
        Err(refused) => return refused.into_response(),
    };
    let filter = match RedriveFilter::read(|name| form.get(name).map(str::to_owned)) {
        Ok(filter) => filter,
        Err(problem) => {
            return respond(StatusCode::BAD_REQUEST, page("Redrive", Some(&session.csrf), &notice("error", problem)));
        }
    };
    let s = &state.services;
    let (status, mut body) = match s.store.redrive_deliveries(&filter.request(false), s.clock.now_ms()).await {
        Ok(ids) if ids.is_empty() => (StatusCode::OK, notice("note", "Nothing matched: no delivery was redriven.")),
        Ok(ids) => {
            s.wake.outbox.notify_one();
            tracing::info!(count = ids.len(), "operator redrove deliveries (console)");
            (StatusCode::OK, notice("note", &format!("{} deliveries go out again now.", ids.len())) + &id_list(&ids))
        }
        Err(error) => {
            (StatusCode::SERVICE_UNAVAILABLE, notice("error", &format!("The database did not answer: {error}")))
        }
    };
    body.push_str(&filter.form("Preview another"));
    respond(status, page("Redrive", Some(&session.csrf), &body))
}

/// Sessions listed, and events shown of one.
const SESSIONS_SHOWN: u32 = 20;

async fn sessions_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let s = &state.services;
    let now = s.clock.now_ms();
    let (cursors, pending) = match (s.store.list_cursors().await, s.store.pending_interactions(now, 100).await) {
        (Ok(cursors), Ok(pending)) => (cursors, pending),
        (Err(error), _) | (_, Err(error)) => {
            let body = notice("error", &format!("The database did not answer: {error}"));
            return respond(StatusCode::SERVICE_UNAVAILABLE, page("Sessions", Some(&session.csrf), &body));
        }
    };
    let mut body = String::from("<h2>Waiting for an answer</h2>");
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|i| {
            let spec = &i.spec;
            let kind = match spec.kind {
                crate::store::InteractionKind::Permission => "approval",
                crate::store::InteractionKind::Question => "question",
            };
            vec![
                kind.to_owned(),
                escape(&spec.prompt_text),
                escape(spec.binding_id.as_str()),
                escape(&spec.chat.chat_id),
                format!(
                    "<a href=\"/console/sessions/{}\">{}</a>",
                    escape(spec.session_id.as_str()),
                    escape(spec.session_id.as_str())
                ),
                format!("in {}", age(spec.expires_at, now)),
            ]
        })
        .collect();
    body.push_str(&table(
        &["Kind", "Asks", "Binding", "Chat", "Session", "Expires"],
        &rows,
        "Nothing is waiting for an answer.",
    ));
    body.push_str("<h2>Sessions</h2>");
    let rows: Vec<Vec<String>> = cursors
        .iter()
        .map(|c| {
            vec![
                format!(
                    "<a href=\"/console/sessions/{}\">{}</a>",
                    escape(c.session_id.as_str()),
                    escape(c.session_id.as_str())
                ),
                escape(c.binding_id.as_str()),
                escape(&c.chat.chat_id),
                c.last_sequence.to_string(),
            ]
        })
        .collect();
    body.push_str(&table(
        &["Session", "Binding", "Chat", "Rendered up to event"],
        &rows,
        "No session has been rendered here yet.",
    ));
    respond(StatusCode::OK, page("Sessions", Some(&session.csrf), &body))
}

/// One line about an event, for people.
fn summary(body: &EventBody) -> String {
    let cut = |text: &str| -> String {
        let short: String = text.chars().take(240).collect();
        if short.len() < text.len() { format!("{short}…") } else { short }
    };
    match body {
        EventBody::PromptSubmitted { text, .. } => cut(text),
        EventBody::AssistantMessage { content, complete, .. } => {
            format!("{}{}", cut(content), if *complete { "" } else { " (streaming)" })
        }
        EventBody::ToolCall { name, status, .. } => format!("{name}: {status:?}"),
        EventBody::PermissionRequested { tool, description, .. } => cut(&format!("{tool}: {description}")),
        EventBody::QuestionAsked { questions, .. } => {
            cut(&questions.iter().map(|q| q.question.as_str()).collect::<Vec<_>>().join(" / "))
        }
        EventBody::RuntimeError { message, .. } => cut(message),
        _ => String::new(),
    }
}

async fn session_events(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (_, session) = match state.session(&headers) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let s = &state.services;
    let session_id = SessionId::new(id);
    let title = format!("Session {}", session_id.as_str());
    let cursor = match s.store.cursor(&session_id).await {
        Ok(Some(cursor)) => cursor,
        Ok(None) => {
            let body = notice("error", "No session of that id is rendered here.");
            return respond(StatusCode::NOT_FOUND, page(&title, Some(&session.csrf), &body));
        }
        Err(error) => {
            let body = notice("error", &format!("The database did not answer: {error}"));
            return respond(StatusCode::SERVICE_UNAVAILABLE, page(&title, Some(&session.csrf), &body));
        }
    };
    let after = (cursor.last_sequence - i64::from(SESSIONS_SHOWN)).max(0);
    let mut body = format!(
        "<dl><dt>Binding</dt><dd>{}</dd><dt>Chat</dt><dd>{}</dd><dt>Rendered up to event</dt><dd>{}</dd></dl>\
         <h2>Recent events</h2>",
        escape(cursor.binding_id.as_str()),
        escape(&cursor.chat.chat_id),
        cursor.last_sequence
    );
    match s.backend.events_after(&session_id, after, SESSIONS_SHOWN * 2).await {
        Ok(events) => {
            let now = s.clock.now_ms();
            let rows: Vec<Vec<String>> = events
                .iter()
                .rev()
                .map(|e| {
                    vec![
                        e.sequence.to_string(),
                        escape(e.body.type_name()),
                        escape(&s.redactor.redact(&summary(&e.body))),
                        format!("{} ago", age(now, e.created_at_ms)),
                    ]
                })
                .collect();
            body.push_str(&table(&["Event", "Type", "What", "When"], &rows, "No events yet."));
        }
        Err(error) => body.push_str(&notice("error", &format!("The sessions did not answer: {error}"))),
    }
    respond(StatusCode::OK, page(&title, Some(&session.csrf), &body))
}
