//! Reconcilers. Alerts and Providers are configuration only in v1beta3 (no
//! status), so only Receivers are reconciled.

pub mod receiver;
