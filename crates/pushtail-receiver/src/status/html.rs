//! The status page's HTML: one self-contained document (inline CSS, no
//! script, no external asset) that refreshes itself. Every value goes
//! through maud's `(...)` splices, which escape it; the only unescaped
//! text is the constant style sheet.

use std::time::Duration;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{
    format_time, ClientStatus, LastSend, Rejection, Status, TargetStatus, REFRESH_SECONDS,
};

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#eee}td.num{text-align:right}.bad{color:#a00}.muted{color:#777}";

/// The whole page.
pub(crate) fn render_html(status: &Status) -> String {
    let uptime = humantime::format_duration(Duration::from_secs(status.uptime_seconds));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { "pushtail status" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "pushtail" }
                p #summary {
                    "version " span #version { (status.version) }
                    ", up " span #uptime { (uptime) }
                    " (since " span #started { (format_time(status.started_at)) } "). "
                    "Refreshes every " (REFRESH_SECONDS) " s; "
                    a href="api/v1/status" { "JSON" } ", " a href="metrics" { "metrics" } "."
                }
                h2 { "Listeners" }
                table #listeners {
                    thead { tr { th { "address" } th { "kind" } th { "targets" } } }
                    tbody {
                        @for listener in &status.listeners {
                            tr {
                                td .address { (listener.address) }
                                td .kind { @if listener.shared { "shared server" } @else { "loki_push_api" } }
                                td .num.targets { (listener.targets.len()) }
                            }
                        }
                    }
                }
                h2 { "Targets" }
                table #targets {
                    thead {
                        tr {
                            th { "listener" } th { "job" } th { "base URL" } th { "labels" }
                            th { "relabel rules" } th { "stages" } th { "tenant" }
                            th { "pushes" } th { "entries" } th { "bytes" }
                            th { "4xx" } th { "503" } th { "last rejection" }
                        }
                    }
                    tbody {
                        @for listener in &status.listeners {
                            @for target in &listener.targets {
                                (target_row(&listener.address, target))
                            }
                        }
                    }
                }
                h2 { "Clients" }
                @if status.clients.is_empty() {
                    p #no-clients .muted { "No clients (dry run)." }
                } @else {
                    table #clients {
                        thead {
                            tr {
                                th { "URL" } th { "queue" } th { "pending entries" }
                                th { "sent entries" } th { "retries" } th { "last send" }
                                th { "dropped entries" } th { "WAL lag" }
                            }
                        }
                        tbody {
                            @for client in &status.clients { (client_row(client)) }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

fn target_row(listener: &str, t: &TargetStatus) -> Markup {
    let c = &t.counters;
    html! {
        tr {
            td .listener { (listener) }
            td .job { (t.job) }
            td .base-url { code { (t.base_url) } }
            td .labels {
                @if t.labels.is_empty() { span .muted { "none" } }
                @for (i, (name, value)) in t.labels.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (name) "=\"" (value) "\"" }
                }
            }
            td .num.relabel-rules { (t.relabel_rules) }
            td .num.stages { (t.pipeline_stages) }
            td .tenant {
                @match &t.tenant_id {
                    Some(tenant) => code { (tenant) },
                    None => span .muted { "from X-Scope-OrgID" },
                }
            }
            td .num.pushes { (c.pushes_accepted) }
            td .num.entries { (c.entries) }
            td .num.bytes { (c.bytes) }
            td .num.rejected-4xx { (c.rejected_4xx) }
            td .num.rejected-503 { (c.rejected_503) }
            td .last-rejection { (rejection(t.last_rejection.as_ref())) }
        }
    }
}

fn rejection(r: Option<&Rejection>) -> Markup {
    html! {
        @match r {
            Some(r) => {
                span .bad { (r.status) } " " span .reason { (r.reason) }
                " " span .muted { "at " (format_time(r.at)) }
            }
            None => span .muted { "none" },
        }
    }
}

fn client_row(c: &ClientStatus) -> Markup {
    let dropped: Vec<_> = c.dropped_entries.iter().filter(|(_, n)| **n > 0).collect();
    html! {
        tr {
            td .url { code { (c.url) } }
            td .num.queue { (c.queue_depth) " / " (c.queue_capacity) }
            td .num.pending { (c.pending_entries) }
            td .num.sent { (c.sent_entries) }
            td .num.retries { (c.retries) }
            td .last-send { (last_send(c.last_send.as_ref())) }
            td .dropped {
                @if dropped.is_empty() { span .muted { "none" } }
                @for (i, (reason, n)) in dropped.iter().enumerate() {
                    @if i > 0 { ", " }
                    (reason) ": " (n)
                }
            }
            td .num.wal-lag {
                @match c.wal_lag_bytes {
                    Some(bytes) => { (bytes) " bytes" },
                    None => span .muted { "no log" },
                }
            }
        }
    }
}

fn last_send(s: Option<&LastSend>) -> Markup {
    html! {
        @match s {
            Some(s) => {
                @match s.status {
                    Some(code) if (200..300).contains(&code) => span .status { (code) },
                    Some(code) => span .status.bad { (code) },
                    None => span .status.bad { "no answer" },
                }
                @if let Some(error) = &s.error { " " span .error { (error) } }
                " " span .muted { "at " (format_time(s.at)) }
            }
            None => span .muted { "nothing sent yet" },
        }
    }
}
