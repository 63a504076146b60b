//! Stream management (SSF 1.0 §8.1): what a receiver creates, reads,
//! changes, pauses and deletes, and the housekeeping of streams.

use super::*;

impl Gatehouse {
    fn seal_authorization(&self, id: StreamId, header: &str) -> Result<Vec<u8>, ApiError> {
        crate::jwt::seal_private_key(
            &self.master_key,
            &format!("ssf-push:{id}"),
            header.as_bytes(),
        )
        .map_err(unexpected)
    }

    pub(super) fn open_authorization(&self, s: &Stream) -> anyhow::Result<Option<String>> {
        let Some(sealed) = s
            .push
            .as_ref()
            .and_then(|p| p.sealed_authorization.as_ref())
        else {
            return Ok(None);
        };
        let plain =
            crate::jwt::open_private_key(&self.master_key, &format!("ssf-push:{}", s.id), sealed)?;
        Ok(Some(String::from_utf8(plain)?))
    }

    /// Applies the receiver-supplied members of `req` to `s`; `replace`
    /// clears what `req` leaves out (PUT), otherwise it stays (PATCH).
    fn apply_request(
        &self,
        s: &mut Stream,
        req: StreamRequest,
        replace: bool,
    ) -> Result<(), ApiError> {
        // Transmitter-supplied members may be repeated, but must match.
        let current = self.stream_configuration(s);
        for (k, v) in &req.other {
            match current.get(k) {
                Some(c) if c == v => {}
                Some(_) => return Err(bad(format!("{k} is set by the transmitter"))),
                None => {}
            }
        }
        if let Some(events) = req.events_requested {
            if events.len() > 64 || events.iter().any(|e| e.len() > MAX_TEXT) {
                return Err(bad("events_requested is too long"));
            }
            s.events_requested = events;
        } else if replace {
            s.events_requested = Vec::new();
        }
        if req.description.is_some() || replace {
            s.description = text("description", req.description)?;
        }
        match req.delivery {
            Some(d) => {
                let method = match d.method.as_deref() {
                    None => DeliveryMethod::Poll,
                    Some(m) => DeliveryMethod::from_urn(m).ok_or_else(|| {
                        bad("delivery.method must be urn:ietf:rfc:8936 or urn:ietf:rfc:8935")
                    })?,
                };
                s.method = method;
                s.push = match method {
                    DeliveryMethod::Poll => None,
                    DeliveryMethod::Push => {
                        let url = d
                            .endpoint_url
                            .ok_or_else(|| bad("push delivery needs delivery.endpoint_url"))?;
                        check_push_url(&url)?;
                        let sealed_authorization = match d.authorization_header {
                            Some(h) if h.len() > MAX_TEXT => {
                                return Err(bad("delivery.authorization_header is too long"));
                            }
                            Some(h) => Some(self.seal_authorization(s.id, &h)?),
                            None => None,
                        };
                        Some(PushTarget {
                            endpoint_url: url,
                            sealed_authorization,
                        })
                    }
                };
                s.failures = 0;
                s.retry_at = None;
            }
            None if replace => {
                s.method = DeliveryMethod::Poll;
                s.push = None;
            }
            None => {}
        }
        Ok(())
    }

    /// Creates a stream for `client` (SSF §8.1.1.1). It starts at the
    /// beginning of the live log, so the receiver learns every revocation
    /// whose tokens could still be valid.
    ///
    /// # Errors
    /// 400 for a malformed request; 409 when the client has
    /// [`MAX_STREAMS_PER_CLIENT`] streams.
    pub async fn create_stream(
        &self,
        client: &Client,
        req: StreamRequest,
    ) -> Result<Value, ApiError> {
        if req.stream_id.is_some() {
            return Err(bad("stream_id is set by the transmitter"));
        }
        let existing = self.ports.streams.client_streams(&client.id).await?;
        let now = self.now();
        if existing.len() >= MAX_STREAMS_PER_CLIENT {
            // A receiver that crashed never deleted its stream. One that
            // stopped polling is gone (a live one polls every few seconds
            // and touches the stream at least every minute): make room by
            // dropping the longest-silent such stream, so a crash loop
            // cannot lock a resource server out for a day.
            let abandoned = existing
                .iter()
                .filter(|s| s.method == DeliveryMethod::Poll && now - s.last_polled_at > ABANDONED)
                .min_by_key(|s| s.last_polled_at);
            if let Some(gone) = abandoned {
                self.ports.streams.delete_stream(gone.id).await?;
                tracing::info!(client_id = %client.id, stream = %gone.id, "an abandoned signal stream made room for a new one");
            }
        }
        if existing.len() >= MAX_STREAMS_PER_CLIENT
            && self.ports.streams.client_streams(&client.id).await?.len() >= MAX_STREAMS_PER_CLIENT
        {
            return Err(ApiError::Conflict(
                format!(
                    "this receiver has {MAX_STREAMS_PER_CLIENT} streams already; delete one it no longer uses"
                )
                .into(),
            ));
        }
        let mut stream = Stream {
            id: StreamId::new(),
            client_id: client.id.clone(),
            version: 0,
            method: DeliveryMethod::Poll,
            push: None,
            events_requested: vec![SESSION_REVOKED.to_owned()],
            description: None,
            status: StreamStatus::Enabled,
            status_reason: None,
            cursor: 0,
            acked_ahead: Vec::new(),
            verification: None,
            failures: 0,
            retry_at: None,
            lease_until: None,
            last_polled_at: now,
            created_at: now,
            updated_at: now,
        };
        self.apply_request(&mut stream, req, false)?;
        self.ports.streams.insert_stream(&stream).await?;
        tracing::info!(client_id = %client.id, stream = %stream.id, method = stream.method.urn(), "signal stream created");
        Ok(self.stream_configuration(&stream))
    }

    /// One stream's configuration, or (with no id) every stream of the
    /// receiver (SSF §8.1.1.2).
    ///
    /// # Errors
    /// 404 for an unknown stream.
    pub async fn read_streams(&self, client: &Client, id: Option<&str>) -> Result<Value, ApiError> {
        match id {
            Some(id) => Ok(self.stream_configuration(&self.own_stream(client, Some(id)).await?)),
            None => Ok(Value::Array(
                self.ports
                    .streams
                    .client_streams(&client.id)
                    .await?
                    .iter()
                    .map(|s| self.stream_configuration(s))
                    .collect(),
            )),
        }
    }

    /// Updates (PATCH) or replaces (PUT) a stream's receiver-supplied
    /// configuration (SSF §8.1.1.3–4).
    ///
    /// # Errors
    /// 400, 404.
    pub async fn change_stream(
        &self,
        client: &Client,
        req: StreamRequest,
        replace: bool,
    ) -> Result<Value, ApiError> {
        let id = req.stream_id.clone();
        // Optimistic: retry if a poll moved the stream on in between.
        for _ in 0..8 {
            let mut s = self.own_stream(client, id.as_deref()).await?;
            let req = StreamRequest {
                stream_id: req.stream_id.clone(),
                delivery: req.delivery.as_ref().map(|d| DeliveryRequest {
                    method: d.method.clone(),
                    endpoint_url: d.endpoint_url.clone(),
                    authorization_header: d.authorization_header.clone(),
                }),
                events_requested: req.events_requested.clone(),
                description: req.description.clone(),
                other: req.other.clone(),
            };
            self.apply_request(&mut s, req, replace)?;
            s.updated_at = self.now();
            if self.ports.streams.update_stream(&s).await? {
                return Ok(self.stream_configuration(&s));
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// Deletes a stream (SSF §8.1.1.5).
    ///
    /// # Errors
    /// 404.
    pub async fn delete_stream(&self, client: &Client, id: Option<&str>) -> Result<(), ApiError> {
        let s = self.own_stream(client, id).await?;
        self.ports.streams.delete_stream(s.id).await?;
        tracing::info!(client_id = %client.id, stream = %s.id, "signal stream deleted");
        Ok(())
    }

    /// A stream's status (SSF §8.1.2.1).
    ///
    /// # Errors
    /// 404.
    pub async fn stream_status(
        &self,
        client: &Client,
        id: Option<&str>,
    ) -> Result<Value, ApiError> {
        let s = self.own_stream(client, id).await?;
        Ok(status_json(&s))
    }

    /// Sets a stream's status (SSF §8.1.2.2). Disabling forgets what was
    /// pending: a disabled stream holds nothing.
    ///
    /// # Errors
    /// 400, 404.
    pub async fn set_stream_status(
        &self,
        client: &Client,
        id: Option<&str>,
        status: Option<&str>,
        reason: Option<String>,
    ) -> Result<Value, ApiError> {
        let status = status
            .and_then(StreamStatus::parse)
            .ok_or_else(|| bad("status must be enabled, paused or disabled"))?;
        let reason = text("reason", reason)?;
        for _ in 0..8 {
            let mut s = self.own_stream(client, id).await?;
            if status == StreamStatus::Disabled && s.status != StreamStatus::Disabled {
                s.cursor = self.log_end().await?;
                s.acked_ahead.clear();
                s.verification = None;
            }
            s.status = status;
            s.status_reason.clone_from(&reason);
            s.updated_at = self.now();
            if self.ports.streams.update_stream(&s).await? {
                return Ok(status_json(&s));
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// Queues a verification event (SSF §8.1.4), delivered before the log.
    ///
    /// # Errors
    /// 400, 404.
    pub async fn request_verification(
        &self,
        client: &Client,
        id: Option<&str>,
        state: Option<String>,
    ) -> Result<(), ApiError> {
        let state = text("state", state)?;
        for _ in 0..8 {
            let mut s = self.own_stream(client, id).await?;
            s.verification = Some(PendingVerification {
                jti: Uuid::new_v4(),
                state: state.clone(),
                at: self.now(),
            });
            if self.ports.streams.update_stream(&s).await? {
                return Ok(());
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// The highest `seq` in the log now (where a disabled stream resumes).
    async fn log_end(&self) -> Result<i64, ApiError> {
        let mut cursor = 0;
        loop {
            let page = self
                .ports
                .tokens
                .revocations_after(cursor, self.now() + Duration::days(1), 1000)
                .await?;
            match page.last() {
                Some(last) => cursor = last.seq,
                None => return Ok(cursor),
            }
        }
    }

    /// Deletes poll streams whose receiver stopped polling a day ago.
    ///
    /// # Errors
    /// A store failure.
    pub(crate) async fn reap_idle_streams(&self) -> Result<u64, crate::ports::StoreError> {
        self.ports
            .streams
            .delete_idle_streams(self.now() - POLL_INACTIVITY)
            .await
    }
}

fn status_json(s: &Stream) -> Value {
    let mut out = json!({"stream_id": s.id.to_string(), "status": s.status.as_str()});
    if let Some(r) = &s.status_reason {
        out["reason"] = json!(r);
    }
    out
}
