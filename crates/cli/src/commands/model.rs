//! `clientele model fit`: the probabilistic customer-value models fitted on
//! the population (crates/value).

use clientele_value::{ModelFits, TimeUnit, Value};
use serde::Serialize;

use crate::commands::{known_at_arg, time_arg, Context, OpenMode};
use crate::error::{CliError, CliResult};
use crate::output::{CommandOutput, Render};

const FIT_EXAMPLES: &str = "\
Examples:
  clientele model fit --as-of 1997-09-30
  clientele model fit --as-of 1997-09-30 --unit weeks --json
  clientele model fit --as-of 1997-09-30 --known-at 2025-07-01   # on what the log held then

Fits BG/NBD (Fader, Hardie & Lee 2005), MBG/NBD (Batislam et al. 2007), Pareto/NBD
(Schmittlein et al. 1987) and the Gamma-Gamma spend model by maximum likelihood on
every customer's purchases up to --as-of (the calibration end). Same-day purchases
are one transaction; frequency = repeat transactions, recency = first to last
purchase, T = first purchase to --as-of, in --unit. Spend is in the currency with the
most revenue by --as-of unless --currency is given.

Where customers pay bills (payments that settle no order: a subscriber's monthly
bill), it also fits the shifted-beta-geometric retention model (Fader & Hardie
2007) with one period per bill: a subscriber with no bill for --lapse-days has
churned.";

/// Above this, both sBG parameters mean "one churn probability for
/// everyone": the beta distribution of θ then has a coefficient of
/// variation under 0.1 % (at most 1/√alpha).
const SBG_ONE_RATE: f64 = 1e6;

/// `clientele model …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelCommand {
    /// Fit the models on the population and print parameters and log-likelihoods.
    #[command(after_help = FIT_EXAMPLES)]
    Fit(FitArgs),
}

/// Arguments of `clientele model fit`.
#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// Calibration end (a date = the end of that day; default now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Only events recorded by R: the fit the data held at R would have given.
    #[arg(long, value_name = "R")]
    pub known_at: Option<String>,
    /// Time unit of recency and T.
    #[arg(long, value_enum, default_value = "weeks")]
    pub unit: Unit,
    /// Currency of the spend model and the bills (ISO 4217).
    #[arg(long)]
    pub currency: Option<String>,
    /// Days without a bill after which a subscriber has churned (sBG).
    #[arg(long, default_value_t = clientele_value::DEFAULT_LAPSE_DAYS)]
    pub lapse_days: u32,
}

/// Time units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unit {
    /// Days.
    Days,
    /// Weeks (the papers' unit for CDNOW).
    Weeks,
}

/// One fitted model in the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct FittedModel {
    /// Parameter name → estimate.
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Log-likelihood at the estimates.
    pub log_likelihood: Option<f64>,
    /// Whether the optimiser converged.
    pub converged: Option<bool>,
    /// Why the fit failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `model fit` output: one object per model.
#[derive(Debug, Clone, Serialize)]
pub struct FitOutput {
    /// Calibration end.
    pub as_of: String,
    /// The recorded time the population was read as known at (absent:
    /// everything recorded so far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_at: Option<String>,
    /// Unit of recency and T.
    pub unit: String,
    /// Currency of the spend model.
    pub currency: String,
    /// Customers with a purchase.
    pub customers: usize,
    /// Repeat buyers (the spend model's data).
    pub repeat_buyers: usize,
    /// BG/NBD: r, alpha, a, b.
    pub bg_nbd: FittedModel,
    /// MBG/NBD: r, alpha, a, b.
    pub mbg_nbd: FittedModel,
    /// Pareto/NBD: r, alpha, s, beta.
    pub pareto_nbd: FittedModel,
    /// Gamma-Gamma: p, q, gamma.
    pub gamma_gamma: FittedModel,
    /// sBG on the subscribers (absent: no customer pays bills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<SubscriberModel>,
}

/// The subscribers' retention model in the `model fit` output.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberModel {
    /// Customers with a bill by as-of.
    pub subscribers: usize,
    /// Of which lapsed: no bill for `lapse_days`.
    pub lapsed: usize,
    /// The lapse, in days.
    pub lapse_days: u32,
    /// The mean bill, an exact decimal string in the currency.
    pub mean_bill: Option<String>,
    /// sBG: alpha, beta (one period per bill).
    pub sbg: FittedModel,
    /// The chance to renew after the first bill, and after the twelfth
    /// (the model's retention rates r(1) and r(12)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal: Option<(f64, f64)>,
}

fn fitted<P>(
    fit: &Result<clientele_value::Fit<P>, String>,
    names: &[&str],
    values: impl Fn(&P) -> Vec<f64>,
) -> FittedModel {
    match fit {
        Ok(f) => FittedModel {
            params: names
                .iter()
                .zip(values(&f.params))
                .map(|(n, v)| ((*n).to_owned(), serde_json::json!(v)))
                .collect(),
            log_likelihood: Some(f.log_likelihood),
            converged: Some(f.converged),
            error: None,
        },
        Err(e) => FittedModel {
            params: serde_json::Map::new(),
            log_likelihood: None,
            converged: None,
            error: Some(e.clone()),
        },
    }
}

impl Render for FitOutput {
    fn render(&self, out: &mut String) {
        out.push_str(&format!(
            "{} ({}), calibration end {}{}, unit {}, spend in {}\n",
            crate::output::count(self.customers, "customer"),
            crate::output::count(self.repeat_buyers, "repeat buyer"),
            self.as_of,
            self.known_at
                .as_ref()
                .map(|k| format!(" as known at {k}"))
                .unwrap_or_default(),
            self.unit,
            self.currency
        ));
        for (name, m) in [
            ("BG/NBD", &self.bg_nbd),
            ("MBG/NBD", &self.mbg_nbd),
            ("Pareto/NBD", &self.pareto_nbd),
            ("Gamma-Gamma", &self.gamma_gamma),
        ] {
            match &m.error {
                Some(e) => out.push_str(&format!("{name:<12} failed: {e}\n")),
                None => {
                    let params: Vec<String> = m
                        .params
                        .iter()
                        .map(|(k, v)| format!("{k} {:.4}", v.as_f64().unwrap_or(f64::NAN)))
                        .collect();
                    out.push_str(&format!(
                        "{name:<12} {}   LL {:.2}{}\n",
                        params.join("  "),
                        m.log_likelihood.unwrap_or(f64::NAN),
                        if m.converged == Some(false) {
                            " (not converged)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        if let Some(s) = &self.subscribers {
            out.push_str(&format!(
                "\n{} ({} lapsed: churned, or no bill for {}), one period per bill{}\n",
                crate::output::count(s.subscribers, "subscriber"),
                crate::output::thousands(s.lapsed),
                crate::output::count(s.lapse_days, "day"),
                s.mean_bill
                    .as_ref()
                    .map(|m| format!(", mean bill {m} {}", self.currency))
                    .unwrap_or_default()
            ));
            match (&s.sbg.error, s.renewal) {
                (Some(e), _) => out.push_str(&format!("{:<12} failed: {e}\n", "sBG")),
                (None, renewal) => {
                    let param = |k: &str| {
                        s.sbg
                            .params
                            .get(k)
                            .and_then(serde_json::Value::as_f64)
                            .unwrap_or(f64::NAN)
                    };
                    let (alpha, beta) = (param("alpha"), param("beta"));
                    // Out at alpha, beta → ∞ the churn probability is one θ
                    // for everyone (a geometric lifetime): say that, not the
                    // huge numbers.
                    let params = if alpha.min(beta) > SBG_ONE_RATE {
                        format!(
                            "one churn probability for everyone, {:.2} % a bill (alpha, beta -> infinity)",
                            100.0 * alpha / (alpha + beta)
                        )
                    } else {
                        format!("alpha {alpha:.4}  beta {beta:.4}")
                    };
                    out.push_str(&format!(
                        "{:<12} {params}   LL {:.2}{}\n",
                        "sBG",
                        s.sbg.log_likelihood.unwrap_or(f64::NAN),
                        if s.sbg.converged == Some(false) {
                            " (not converged)"
                        } else {
                            ""
                        }
                    ));
                    if let Some((first, twelfth)) = renewal {
                        out.push_str(&format!(
                            "             renews {:.1} % after the first bill, {:.1} % after the twelfth\n",
                            100.0 * first,
                            100.0 * twelfth
                        ));
                    }
                }
            }
        }
    }
}

/// Runs `model fit`.
pub fn run(ctx: &Context, command: &ModelCommand) -> CliResult<CommandOutput> {
    let ModelCommand::Fit(args) = command;
    let as_of = time_arg("as-of", args.as_of.as_deref())?;
    let known_at = known_at_arg(args.known_at.as_deref())?;
    if !ctx.store_exists() {
        return Err(ctx.no_store());
    }
    let store = ctx.open(OpenMode::Write)?;
    let error = |doing: &'static str| {
        move |e: clientele_value::service::ServiceError| {
            CliError::runtime(format!("{doing}: {e}"), "run `clientele verify`")
        }
    };
    let mut value = Value::open(&store).map_err(error("opening the value projection"))?;
    value
        .catch_up()
        .map_err(error("updating the value projection"))?;
    let at = clientele_core::projection::AsOf {
        occurred: as_of,
        known_at,
    };
    let currency = match &args.currency {
        Some(c) => c.to_ascii_uppercase(),
        None => value
            .dominant_currency(at)
            .map_err(error("reading revenue"))?
            .ok_or_else(|| {
                CliError::input(
                    "no purchases in the store by --as-of",
                    "import purchases first (`clientele import`), or pick a later --as-of",
                )
            })?,
    };
    let minor = 10u32.pow(u32::from(
        currency
            .parse::<clientele_core::Currency>()
            .map(|c| c.minor_unit_exponent())
            .unwrap_or(2),
    ));
    let unit = match args.unit {
        Unit::Days => TimeUnit::Days,
        Unit::Weeks => TimeUnit::Weeks,
    };
    let fits: ModelFits = value
        .fit(at, &currency, unit, minor)
        .map_err(error("fitting the models"))?;
    let subs = value
        .fit_subscriptions(at, &currency, args.lapse_days)
        .map_err(error("fitting the subscribers' model"))?;
    let subscribers = (subs.subscribers > 0).then(|| SubscriberModel {
        subscribers: subs.subscribers,
        lapsed: subs.lapsed,
        lapse_days: subs.lapse_days,
        mean_bill: subs.mean_bill.and_then(|minor| {
            let c = currency.parse::<clientele_core::Currency>().ok()?;
            Some(
                clientele_core::Money::from_minor(minor, c)
                    .amount()
                    .to_string(),
            )
        }),
        sbg: fitted(&subs.sbg, &["alpha", "beta"], |p| p.to_array().to_vec()),
        renewal: subs.sbg.as_ref().ok().and_then(|f| {
            Some((
                f.params.retention_rate(1).ok()?,
                f.params.retention_rate(12).ok()?,
            ))
        }),
    });
    Ok(CommandOutput::new(&FitOutput {
        as_of: crate::output::timestamp(as_of),
        known_at: known_at.map(crate::output::timestamp),
        unit: format!("{unit:?}").to_lowercase(),
        currency,
        customers: fits.customers,
        repeat_buyers: fits.repeat_buyers,
        bg_nbd: fitted(&fits.bg_nbd, &["r", "alpha", "a", "b"], |p| {
            p.to_array().to_vec()
        }),
        mbg_nbd: fitted(&fits.mbg_nbd, &["r", "alpha", "a", "b"], |p| {
            p.to_array().to_vec()
        }),
        pareto_nbd: fitted(&fits.pareto_nbd, &["r", "alpha", "s", "beta"], |p| {
            p.to_array().to_vec()
        }),
        gamma_gamma: fitted(&fits.gamma_gamma, &["p", "q", "gamma"], |p| {
            p.to_array().to_vec()
        }),
        subscribers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(alpha: f64, beta: f64) -> String {
        let model = |params: &[(&str, f64)]| FittedModel {
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
                .collect(),
            log_likelihood: Some(-1.0),
            converged: Some(true),
            error: None,
        };
        let fit = FitOutput {
            as_of: "2025-06-30".into(),
            known_at: None,
            unit: "weeks".into(),
            currency: "CNY".into(),
            customers: 1,
            repeat_buyers: 0,
            bg_nbd: model(&[]),
            mbg_nbd: model(&[]),
            pareto_nbd: model(&[]),
            gamma_gamma: model(&[]),
            subscribers: Some(SubscriberModel {
                subscribers: 10,
                lapsed: 2,
                lapse_days: 90,
                mean_bill: Some("58.00".into()),
                sbg: model(&[("alpha", alpha), ("beta", beta)]),
                renewal: Some((0.9, 0.95)),
            }),
        };
        let mut out = String::new();
        fit.render(&mut out);
        out
    }

    /// Out at alpha, beta → ∞ the text names the one churn probability
    /// instead of printing the huge parameters; a finite fit prints them.
    #[test]
    fn a_boundary_sbg_fit_reads_as_one_churn_probability() {
        let boundary = output(2.2e7, 1.9e9);
        assert!(
            boundary.contains("one churn probability for everyone, 1.14 % a bill"),
            "{boundary}"
        );
        assert!(!boundary.contains("alpha 22"), "{boundary}");
        let finite = output(0.704, 1.182);
        assert!(finite.contains("alpha 0.7040  beta 1.1820"), "{finite}");
        assert!(finite.contains("renews 90.0 % after the first bill, 95.0 % after the twelfth"));
    }
}
