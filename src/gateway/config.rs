//! The configuration the gateway runs with, already checked (the flags are in
//! `cli::GatewayArgs`).

use std::net::SocketAddr;

use crate::gateway::auth::Auth;
use crate::gateway::lake::{LakeUri, S3Options};

/// The checked configuration.
#[derive(Debug)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub lake: LakeUri,
    pub s3: S3Options,
    /// Never open unless `listen` is a loopback address.
    pub auth: Auth,
    pub max_body_bytes: usize,
    /// Body bytes read at once, across connections.
    pub bytes_in_flight: usize,
    /// Body bytes read at once from one client.
    pub bytes_in_flight_per_client: usize,
    pub limits: crate::server::Limits,
}
