//! The model card: JSON stored in the ONNX file's `metadata_props["fewstep"]`.
//!
//! It tells fewstep how to *sample* from the network (any ONNX runtime can run it): what kind
//! of network it is, which input is the state, the time and the condition, and the time grid.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::Error;

/// The `metadata_props` key the card is stored under.
pub const METADATA_KEY: &str = "fewstep";
/// The card format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What the network computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `v(x_t, t, cond) -> velocity`; integrated by the sampler over the time grid.
    Velocity,
    /// `g(z, cond) -> sample`; run once.
    Generator,
}

/// ODE integration method of the sampler.
///
/// Heun evaluates the network at the end of each step, so at the grid's last time too; Euler
/// and midpoint never evaluate at the last time. That matters for a net whose card says
/// [`Prediction::Data`]: see [`sampler_refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Euler,
    Heun,
    Midpoint,
}

impl Method {
    /// Network evaluations per step.
    pub fn evals_per_step(self) -> usize {
        match self {
            Method::Euler => 1,
            Method::Heun | Method::Midpoint => 2,
        }
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "euler" => Ok(Method::Euler),
            "heun" => Ok(Method::Heun),
            "midpoint" => Ok(Method::Midpoint),
            _ => Err(Error::InvalidArgument(format!(
                "unknown sampler method {s:?} (euler, heun, midpoint)"
            ))),
        }
    }
}

/// What a velocity network's graph computes its output from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The graph predicts the velocity itself.
    Velocity,
    /// The graph predicts the clean sample `x̂1` and returns the velocity
    /// `(x̂1 − x) / max(1 − t, ε)`, as fewstep-distill's nets do (ε = [`DATA_SINGULAR_GAP`]).
    /// Near t = 1 the prediction's error is divided by ε, so the net must not be evaluated
    /// there ([`sampler_refusal`]).
    Data,
}

/// How close to t = 1 a [`Prediction::Data`] net may not be evaluated: its ε.
pub const DATA_SINGULAR_GAP: f32 = 1e-3;

/// Why sampling a net that predicts `prediction` with `method` over `times` is refused, or
/// `None` if it is not: Heun evaluates the net at the grid's last time, so on a grid that ends
/// within [`DATA_SINGULAR_GAP`] of 1 it divides a data-predicting net's error by ε (measured:
/// fewstep-distill's teachers sample metres off; models/README.md, session 16). Nets whose card
/// does not say what they predict are not restricted.
pub fn sampler_refusal(
    prediction: Option<Prediction>,
    method: Method,
    times: &[f32],
) -> Option<String> {
    let ends_at_data = times.last().is_some_and(|&t| 1.0 - t < DATA_SINGULAR_GAP);
    (prediction == Some(Prediction::Data) && method == Method::Heun && ends_at_data).then(|| {
        format!(
            "Heun evaluates the net at the grid's last time ({}), and this net predicts the \
             data, so its velocity there is its error divided by {DATA_SINGULAR_GAP}: it would \
             sample metres off. Use euler or midpoint, or a grid that ends before {}",
            times[times.len() - 1],
            1.0 - DATA_SINGULAR_GAP
        )
    })
}

/// A dimension in a card shape: a number or a symbol such as `"N"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CardDim {
    Fixed(usize),
    Sym(String),
}

/// A named tensor and its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<CardDim>,
}

/// Which graph input plays which role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    /// The state input: `x_t` for a velocity model, the noise `z` for a generator.
    pub state: String,
    /// The time input of a velocity model (any shape; every element is set to `t`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The condition input, if the model is conditional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cond: Option<String>,
    /// The output: velocity or sample, same shape as the state.
    pub output: String,
}

/// The sampler: method and time grid (`times[0]` is noise, the last is data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerSpec {
    pub method: Method,
    pub times: Vec<f32>,
}

impl SamplerSpec {
    /// `method` over `steps` uniform steps from 0 to 1.
    pub fn uniform(method: Method, steps: usize) -> Self {
        SamplerSpec {
            method,
            times: uniform_grid(0.0, 1.0, steps),
        }
    }

    /// Steps of the grid.
    pub fn steps(&self) -> usize {
        self.times.len().saturating_sub(1)
    }

    /// Network passes per sample.
    pub fn passes(&self) -> usize {
        self.steps() * self.method.evals_per_step()
    }

    /// Whether the grid is the uniform one from 0 to 1 of its step count.
    pub fn is_uniform(&self) -> bool {
        self.times == uniform_grid(0.0, 1.0, self.steps())
    }
}

/// What is wrong with `times` as a sampler's time grid, or `None`: it needs at least two
/// entries, all finite and strictly increasing. (Cards and `Session::set_sampler` both check
/// with it.)
pub fn grid_problem(times: &[f32]) -> Option<&'static str> {
    if times.len() < 2 {
        Some("needs at least two entries")
    } else if times.iter().any(|t| !t.is_finite()) || times.windows(2).any(|w| w[1] <= w[0]) {
        Some("must be finite and strictly increasing")
    } else {
        None
    }
}

/// `steps` uniform steps from `t0` to `t1`: `steps + 1` times (`steps` ≥ 1).
pub fn uniform_grid(t0: f32, t1: f32, steps: usize) -> Vec<f32> {
    (0..=steps)
        .map(|i| t0 + (t1 - t0) * i as f32 / steps as f32)
        .collect()
}

/// Where the model came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// The card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub format_version: u32,
    pub kind: Kind,
    pub roles: Roles,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Required for `velocity`; ignored for `generator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerSpec>,
    /// What a velocity net predicts; absent in cards written before it existed (and in nets
    /// that do not say), which puts no restriction on the sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Data normalization the features need (free-form; the forecasting module defines it).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub normalization: serde_json::Value,
    #[serde(default)]
    pub provenance: Provenance,
    /// Measured metrics (e.g. `minADE20`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

impl Card {
    /// Serializes to the JSON stored in the model file.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a card always serializes")
    }

    /// Parses and validates a card (not yet against a graph; see `Model::load`).
    pub fn from_json(s: &str) -> Result<Card, Error> {
        let card: Card = serde_json::from_str(s)
            .map_err(|e| Error::BadCard(format!("not a valid card: {e}")))?;
        card.validate()?;
        Ok(card)
    }

    /// Checks what the card says about itself.
    pub fn validate(&self) -> Result<(), Error> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::BadCard(format!(
                "format_version {} is not supported (this build reads {FORMAT_VERSION})",
                self.format_version
            )));
        }
        let has_input = |n: &str| self.inputs.iter().any(|i| i.name == n);
        for (role, name) in [
            ("state", Some(&self.roles.state)),
            ("time", self.roles.time.as_ref()),
            ("cond", self.roles.cond.as_ref()),
        ] {
            if let Some(name) = name
                && !has_input(name)
            {
                return Err(Error::BadCard(format!(
                    "roles.{role} = {name:?} is not among the card's inputs"
                )));
            }
        }
        if !self.outputs.iter().any(|o| o.name == self.roles.output) {
            return Err(Error::BadCard(format!(
                "roles.output = {:?} is not among the card's outputs",
                self.roles.output
            )));
        }
        match self.kind {
            Kind::Velocity => {
                if self.roles.time.is_none() {
                    return Err(Error::BadCard("a velocity model needs roles.time".into()));
                }
                let s = self
                    .sampler
                    .as_ref()
                    .ok_or_else(|| Error::BadCard("a velocity model needs a sampler".into()))?;
                if let Some(why) = grid_problem(&s.times) {
                    return Err(Error::BadCard(format!("sampler.times {why}")));
                }
                if let Some(why) = sampler_refusal(self.prediction, s.method, &s.times) {
                    return Err(Error::BadCard(format!("sampler: {why}")));
                }
            }
            Kind::Generator => {}
        }
        Ok(())
    }
}
