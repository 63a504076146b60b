//! Delivery: RFC 8936 polls with acknowledgements, RFC 8935 push rounds,
//! and the Security Event Tokens both carry.

use super::*;

impl Gatehouse {
    /// Entries appended before this are safe to read past.
    fn settled_before(&self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        let settle = self.ports.tokens.revocation_settle();
        now - Duration::try_from(settle).unwrap_or(Duration::seconds(1))
    }

    /// Serves an RFC 8936 poll on `stream`: records the acknowledgements,
    /// then answers with the SETs not yet acknowledged, waiting up to
    /// `hold` for some when none are pending and the receiver allows it.
    /// `sleep` is the caller's timer (the core runs on any executor).
    ///
    /// # Errors
    /// 400 for a malformed request or a push stream; 404.
    pub async fn poll_stream<S, F>(
        &self,
        client: &Client,
        id: &str,
        req: PollRequest,
        hold: std::time::Duration,
        sleep: S,
    ) -> Result<PollResponse, ApiError>
    where
        S: Fn(std::time::Duration) -> F,
        F: std::future::Future<Output = ()>,
    {
        if req.ack.len() + req.set_errs.len() > MAX_ACKS {
            return Err(bad("too many acknowledgements in one request"));
        }
        let max = req.max_events.unwrap_or(DEFAULT_EVENTS).min(MAX_EVENTS);
        for (jti, e) in &req.set_errs {
            tracing::warn!(client_id = %client.id, stream = id, jti, err = %e.err, description = e.description.as_deref().unwrap_or(""), "a receiver refused a security event");
        }
        let acks: BTreeSet<&str> = req
            .ack
            .iter()
            .map(String::as_str)
            .chain(req.set_errs.keys().map(String::as_str))
            .collect();
        let deadline = std::time::Instant::now() + hold;
        let mut first = true;
        loop {
            let mut s = self.own_stream(client, Some(id)).await?;
            if s.method != DeliveryMethod::Poll {
                return Err(bad("this stream delivers by push"));
            }
            let now = self.now();
            let window = if s.status == StreamStatus::Enabled {
                let limit = max as usize + s.acked_ahead.len() + acks.len() + 1;
                self.ports
                    .tokens
                    .revocations_after(s.cursor, self.settled_before(now), limit.min(50_000) as u32)
                    .await?
            } else {
                Vec::new()
            };
            let changed = if first {
                acknowledge(&mut s, &window, &acks)
            } else {
                false
            };
            first = false;
            let pending: Vec<&Revocation> = window
                .iter()
                .filter(|r| r.seq > s.cursor && !s.acked_ahead.contains(&r.seq))
                .collect();
            let touch = now - s.last_polled_at >= POLL_TOUCH;
            if changed || touch {
                s.last_polled_at = now;
                // A lost race only means these acknowledgements are
                // redelivered; the receiver handles SETs idempotently.
                let _ = self.ports.streams.update_stream(&s).await?;
            }
            let nothing = pending.is_empty() && s.verification.is_none();
            if max == 0
                || !nothing
                || req.return_immediately
                || s.status != StreamStatus::Enabled
                || self.draining.load(std::sync::atomic::Ordering::Relaxed)
                || std::time::Instant::now() + HOLD_TICK > deadline
            {
                return self.poll_response(&s, &pending, max);
            }
            sleep(HOLD_TICK).await;
        }
    }

    fn poll_response(
        &self,
        s: &Stream,
        pending: &[&Revocation],
        max: u32,
    ) -> Result<PollResponse, ApiError> {
        let mut sets = serde_json::Map::new();
        let mut room = max as usize;
        if room > 0
            && let Some(v) = &s.verification
        {
            sets.insert(v.jti.to_string(), json!(self.verification_set(s, v)?));
            room -= 1;
        }
        for r in pending.iter().take(room) {
            sets.insert(r.id.to_string(), json!(self.revocation_set(s, r)?));
        }
        let delivered = sets.len();
        let total = pending.len() + usize::from(s.verification.is_some());
        Ok(PollResponse {
            sets,
            more_available: total > delivered,
        })
    }

    /// The SET for one log entry (RFC 8417, SSF 1.0 §4, CAEP 1.0 §3.1).
    pub fn revocation_set(&self, s: &Stream, r: &Revocation) -> Result<String, ApiError> {
        let iss = &self.settings.issuer;
        let user = |u: &crate::model::UserId| json!({"format": "iss_sub", "iss": iss, "sub": u.to_string()});
        let app = |c: &crate::model::ClientId| json!({"format": "opaque", "id": c.as_str()});
        let sub_id = match &r.subject {
            RevokedSubject::Grant {
                grant,
                user: u,
                client,
            } => json!({
                "format": "complex",
                "user": user(u),
                "session": {"format": "opaque", "id": grant.to_string()},
                "application": app(client),
            }),
            RevokedSubject::App { user: u, client } => json!({
                "format": "complex",
                "user": user(u),
                "application": app(client),
            }),
            RevokedSubject::User { user: u } => user(u),
            RevokedSubject::Client { client } => json!({
                "format": "complex",
                "application": app(client),
            }),
            RevokedSubject::Token { jti } => json!({
                "format": "jwt_id",
                "iss": iss,
                "jti": jti.to_string(),
            }),
        };
        let (entity, sentence) = reason_text(&r.reason);
        let claims = json!({
            "iss": iss,
            "iat": self.now().unix_timestamp(),
            "jti": r.id.to_string(),
            "aud": s.client_id.as_str(),
            "txn": r.id.to_string(),
            "sub_id": sub_id,
            "events": {
                SESSION_REVOKED: {
                    "event_timestamp": r.at.unix_timestamp(),
                    "initiating_entity": entity,
                    "reason_admin": {"en": format!("{}: {sentence}", r.reason)},
                }
            }
        });
        self.keyring()
            .sign_security_event(&claims)
            .map_err(unexpected)
    }

    fn verification_set(&self, s: &Stream, v: &PendingVerification) -> Result<String, ApiError> {
        let mut event = json!({});
        if let Some(state) = &v.state {
            event["state"] = json!(state);
        }
        let claims = json!({
            "iss": self.settings.issuer,
            "iat": self.now().unix_timestamp(),
            "jti": v.jti.to_string(),
            "aud": s.client_id.as_str(),
            "sub_id": {"format": "opaque", "id": s.id.to_string()},
            "events": { VERIFICATION: event },
        });
        self.keyring()
            .sign_security_event(&claims)
            .map_err(unexpected)
    }

    /// One round of push delivery (RFC 8935): every due push stream gets
    /// its pending SETs, in order, until one fails; a failing stream backs
    /// off exponentially up to five minutes. A lease on the stream keeps
    /// two instances from pushing it at once. Returns how many SETs were
    /// delivered.
    ///
    /// # Errors
    /// A store failure.
    pub async fn push_due_streams(&self, pusher: &Arc<dyn SetPusher>) -> Result<usize, ApiError> {
        let now = self.now();
        let mut delivered = 0;
        for mut s in self.ports.streams.due_push_streams(now, 100).await? {
            // Lease it; another instance that got here first wins.
            s.lease_until = Some(now + PUSH_LEASE);
            if !self.ports.streams.update_stream(&s).await? {
                continue;
            }
            s.version += 1;
            delivered += self.push_stream(&mut s, pusher).await?;
            s.lease_until = None;
            // Lost only if the receiver reconfigured the stream meanwhile;
            // then it is pushed again from where the store has it.
            let _ = self.ports.streams.update_stream(&s).await?;
        }
        Ok(delivered)
    }

    async fn push_stream(
        &self,
        s: &mut Stream,
        pusher: &Arc<dyn SetPusher>,
    ) -> Result<usize, ApiError> {
        let Some(target) = s.push.clone() else {
            return Ok(0);
        };
        let authorization = match self.open_authorization(s) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(stream = %s.id, error = %e, "a push stream's authorization header cannot be opened");
                self.back_off(s, "the stored authorization header cannot be opened");
                return Ok(0);
            }
        };
        let mut delivered = 0;
        let mut outgoing: Vec<(Option<i64>, String)> = Vec::new();
        if let Some(v) = &s.verification {
            outgoing.push((None, self.verification_set(s, v)?));
        }
        let window = self
            .ports
            .tokens
            .revocations_after(s.cursor, self.settled_before(self.now()), PUSH_BATCH)
            .await?;
        for r in &window {
            outgoing.push((Some(r.seq), self.revocation_set(s, r)?));
        }
        for (seq, set) in outgoing {
            match pusher
                .push(&target.endpoint_url, authorization.as_deref(), &set)
                .await
            {
                PushOutcome::Accepted => {}
                PushOutcome::Rejected(why) => {
                    tracing::warn!(stream = %s.id, client_id = %s.client_id, why, "a receiver refused a security event");
                }
                PushOutcome::Failed(why) => {
                    tracing::warn!(stream = %s.id, client_id = %s.client_id, why, "pushing a security event failed; will retry");
                    self.back_off(s, &why);
                    return Ok(delivered);
                }
            }
            delivered += 1;
            match seq {
                None => s.verification = None,
                Some(seq) => s.cursor = seq,
            }
        }
        s.failures = 0;
        s.retry_at = None;
        Ok(delivered)
    }

    fn back_off(&self, s: &mut Stream, why: &str) {
        s.failures = s.failures.saturating_add(1);
        let wait = Duration::seconds(1i64 << s.failures.min(9)).min(PUSH_MAX_BACKOFF);
        s.retry_at = Some(self.now() + wait);
        s.status_reason = Some(format!("last push failed: {why}"));
    }
}

/// Records `acks` (jtis) against `window` (the entries after the cursor):
/// the cursor moves over every acknowledged entry at its front, the rest
/// are remembered in `acked_ahead`. Returns whether anything changed.
fn acknowledge(s: &mut Stream, window: &[Revocation], acks: &BTreeSet<&str>) -> bool {
    let mut changed = false;
    if let Some(v) = &s.verification
        && acks.contains(v.jti.to_string().as_str())
    {
        s.verification = None;
        changed = true;
    }
    let mut ahead: BTreeSet<i64> = s.acked_ahead.iter().copied().collect();
    for r in window {
        if acks.contains(r.id.to_string().as_str()) && ahead.insert(r.seq) {
            changed = true;
        }
    }
    // Window entries are in `seq` order with no visible entry between them:
    // the front of the window is the next thing the receiver must have.
    for r in window {
        if ahead.remove(&r.seq) {
            s.cursor = r.seq;
        } else {
            break;
        }
    }
    ahead.retain(|seq| *seq > s.cursor);
    while ahead.len() > MAX_ACKED_AHEAD {
        ahead.pop_first();
    }
    let ahead: Vec<i64> = ahead.into_iter().collect();
    if ahead != s.acked_ahead {
        s.acked_ahead = ahead;
        changed = true;
    }
    changed
}
