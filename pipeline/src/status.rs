//! `braid status`: files, quarantine, linkage quality and privacy budget.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::config::Config;
use crate::error::Result;
use crate::ledger::Ledger;

#[derive(Debug, Serialize)]
pub struct Status {
    pub consortium: String,
    pub last_runs: Vec<serde_json::Value>,
    pub files_by_status: BTreeMap<String, usize>,
    pub partners: Vec<PartnerStatus>,
    pub linkage: Option<serde_json::Value>,
    pub budget: BudgetStatus,
    pub latest_release: Option<String>,
    /// Withdrawal-list entries (record keys of `braid forget`) not yet fully
    /// applied: a forget was interrupted, and the next `braid run`,
    /// `braid link` or `braid forget` completes it.
    pub pending_forgets: usize,
}

#[derive(Debug, Serialize)]
pub struct PartnerStatus {
    pub partner: String,
    pub files_loaded: usize,
    pub files_rejected: usize,
    pub files_vanished: usize,
    pub rows_read: i64,
    pub rows_loaded: i64,
    pub rows_quarantined: i64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// "column: reason" -> values set aside in rows that were loaded.
    pub set_aside: BTreeMap<String, u64>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BudgetStatus {
    pub rho_spent_lifetime: f64,
    pub rho_lifetime_cap: f64,
    pub rho_spent_this_year: f64,
    /// δ of all threshold mechanisms so far (cells discovered outside the
    /// public key lists).
    pub threshold_delta_lifetime: f64,
    pub rho_annual_cap: f64,
    pub rho_per_release: f64,
    pub releases: Vec<(String, String, f64)>,
}

pub fn status(cfg: &Config, ledger: &Ledger, only: Option<&str>) -> Result<Status> {
    let files = ledger.all_files()?;
    let mut by_status = BTreeMap::new();
    for f in &files {
        *by_status.entry(f.status.clone()).or_default() += 1;
    }
    let mut partners = Vec::new();
    for p in &cfg.partners {
        if only.is_some_and(|o| o != p.id) {
            continue;
        }
        let mine: Vec<_> = files.iter().filter(|f| f.partner == p.id).collect();
        let current: Vec<_> = mine.iter().filter(|f| f.status == "loaded" || f.status == "vanished").collect();
        let mut rejects = BTreeMap::new();
        let mut set_aside = BTreeMap::new();
        for f in &current {
            if let Some(r) = f.report.as_deref().and_then(|r| serde_json::from_str::<crate::ingest::FileReport>(r).ok()) {
                for (k, v) in r.rejects_by_reason {
                    *rejects.entry(k).or_default() += v;
                }
                for (k, v) in r.set_aside {
                    *set_aside.entry(k).or_default() += v;
                }
            }
        }
        partners.push(PartnerStatus {
            partner: p.id.clone(),
            files_loaded: mine.iter().filter(|f| f.status == "loaded").count(),
            files_rejected: mine.iter().filter(|f| f.status == "rejected").count(),
            files_vanished: mine.iter().filter(|f| f.status == "vanished").count(),
            rows_read: current.iter().map(|f| f.rows_read).sum(),
            rows_loaded: current.iter().map(|f| f.rows_loaded).sum(),
            rows_quarantined: current.iter().map(|f| f.rows_quarantined).sum(),
            rejects_by_reason: rejects,
            set_aside,
            problems: mine
                .iter()
                .filter(|f| f.status == "rejected" || f.status == "vanished")
                .map(|f| format!("{} {}: {}", f.status, f.url.rsplit('/').next().unwrap_or(&f.url), f.message.clone().unwrap_or_default()))
                .collect(),
        });
    }
    let runs = ledger.last_runs(5)?;
    let linkage = runs
        .iter()
        .filter_map(|r| r.4.as_deref())
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .find_map(|v| v.get("linkage").filter(|l| !l.is_null()).cloned());
    let year = chrono::Utc::now().format("%Y").to_string();
    let spent = ledger.spent(&year)?;
    let mut releases: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for r in ledger.all_releases()? {
        let e = releases.entry(r.release_id.clone()).or_insert((r.created_at.clone(), 0.0));
        e.1 += r.rho;
    }
    Ok(Status {
        consortium: cfg.consortium.clone(),
        last_runs: runs
            .iter()
            .map(|(id, started, status, code, _)| serde_json::json!({ "run_id": id, "started_at": started, "status": status, "exit_code": code }))
            .collect(),
        files_by_status: by_status,
        partners,
        linkage,
        budget: BudgetStatus {
            rho_spent_lifetime: spent.lifetime,
            rho_lifetime_cap: cfg.privacy.rho_lifetime_cap,
            rho_spent_this_year: spent.year,
            rho_annual_cap: cfg.privacy.rho_annual_cap,
            rho_per_release: cfg.privacy.rho_per_release,
            threshold_delta_lifetime: spent.threshold_delta_lifetime,
            releases: releases.into_iter().map(|(id, (at, rho))| (id, at, rho)).collect(),
        },
        latest_release: crate::publish::latest_release(&cfg.publish.dir()),
        pending_forgets: ledger.pending_forgets()?.len(),
    })
}

impl Status {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}\n", self.consortium);
        if self.pending_forgets > 0 {
            let _ = writeln!(
                s,
                "! Consent withdrawal unfinished: {} record key(s) of an interrupted `braid forget` may still be in staging or in \
                 old table versions; the next `braid run`, `braid link` or `braid forget` completes it.\n",
                self.pending_forgets
            );
        }
        let _ = writeln!(s, "Recent runs:");
        for r in &self.last_runs {
            let _ = writeln!(s, "  {}  {}  {}  exit {}", r["run_id"].as_str().unwrap_or(""), r["started_at"].as_str().unwrap_or(""), r["status"].as_str().unwrap_or(""), r["exit_code"]);
        }
        let _ = writeln!(s, "\nFiles: {}", self.files_by_status.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "));
        let _ = writeln!(s, "\nPartners (current file versions):");
        for p in &self.partners {
            let _ = writeln!(
                s,
                "  {:<20} {} loaded, {} rejected, {} vanished; rows read {}, loaded {}, quarantined {}",
                p.partner, p.files_loaded, p.files_rejected, p.files_vanished, p.rows_read, p.rows_loaded, p.rows_quarantined
            );
            for (k, v) in &p.rejects_by_reason {
                let _ = writeln!(s, "      {v:>6} quarantined: {}", k.replace('_', " "));
            }
            for (k, v) in &p.set_aside {
                let _ = writeln!(s, "      {v:>6} loaded, value set aside: {}", k.replace('_', " "));
            }
            for pr in &p.problems {
                let _ = writeln!(s, "      ! {pr}");
            }
        }
        if let Some(l) = &self.linkage {
            let _ = writeln!(
                s,
                "\nLinkage (last run): {} records -> {} persons ({} served by 2+ partners); {} candidate observation pairs; {} record pairs above threshold {}",
                l["records"], l["persons"], l["multi_partner_persons"], l["candidate_pairs"], l["links_above_threshold"], l["threshold"]
            );
            if let Some(ev) = l.get("key_events").and_then(|e| e.as_object()) {
                let order = ["born", "merged", "split", "restored", "retired"];
                let parts: Vec<String> = order.iter().filter_map(|k| ev.get(*k).map(|n| format!("{n} {k}"))).collect();
                let changed = if parts.is_empty() { "none changed".to_string() } else { parts.join(", ") };
                let _ = writeln!(s, "  person keys this run: {changed} (person_key_history has each)");
            }
        }
        let b = &self.budget;
        let _ = writeln!(
            s,
            "\nPrivacy budget (rho, zCDP): lifetime {:.4} of {} ({:.4} left); this year {:.4} of {} ({:.4} left); per release {}",
            b.rho_spent_lifetime,
            b.rho_lifetime_cap,
            (b.rho_lifetime_cap - b.rho_spent_lifetime).max(0.0),
            b.rho_spent_this_year,
            b.rho_annual_cap,
            (b.rho_annual_cap - b.rho_spent_this_year).max(0.0),
            b.rho_per_release
        );
        if b.threshold_delta_lifetime > 0.0 {
            let _ = writeln!(s, "  delta of threshold releases (keys outside the public lists), lifetime: {:e}", b.threshold_delta_lifetime);
        }
        for (id, at, rho) in &b.releases {
            let _ = writeln!(s, "  release {id:<12} {at}  rho {rho:.4}");
        }
        if let Some(r) = &self.latest_release {
            let _ = writeln!(s, "\nLatest release: {r}");
        }
        s
    }
}
