//! The streaming forecaster: feed each frame's observations, get every ready agent's K futures.
//!
//! Agent handling (documented contract):
//! - an agent is *ready* once it has been observed in 8 consecutive `observe` calls (frames);
//!   `predict` forecasts every ready agent observed in the latest frame;
//! - an agent that skips a frame (is absent from one `observe` call) loses its history and
//!   needs 8 new consecutive observations; one that vanishes frees its slot, and if it comes
//!   back later it starts from scratch;
//! - frame ids only need to increase; the step between them is not checked (one `observe`
//!   call is one time step of the model, 0.4 s for ETH-UCY models);
//! - at most `max_agents` agents are tracked at once; more is `Error::Capacity`.
//!
//! After [`Forecaster::new`], `observe` and `predict` allocate nothing.

use super::features::{FUTURE_VALUES, Frame, Neighbour, Normalization, future_world};
use super::{OBS, PRED, Point};
use crate::buffers::zeroed;
use crate::card::{CardDim, Kind, Method};
use crate::error::Error;
use crate::model::Model;
use crate::rng::Rng;
use crate::session::{Backend, Precision, Session, SessionOptions, check_finite};

#[derive(Debug, Clone, Copy)]
struct Slot {
    agent: f64,
    used: bool,
    hist: [Point; OBS],
    len: usize,
    last_seen: u64,
}

impl Slot {
    /// Appends an observation made at `step`; a gap since the last one restarts the history.
    fn push(&mut self, x: f32, y: f32, step: u64) {
        if self.len > 0 && self.last_seen + 1 != step {
            self.len = 0;
        }
        if self.len == OBS {
            self.hist.copy_within(1.., 0);
            self.hist[OBS - 1] = [x, y];
        } else {
            self.hist[self.len] = [x, y];
            self.len += 1;
        }
        self.last_seen = step;
    }
}

const FREE: Slot = Slot {
    agent: 0.0,
    used: false,
    hist: [[0.0; 2]; OBS],
    len: 0,
    last_seen: 0,
};

/// How to build a forecaster.
#[derive(Debug, Clone)]
pub struct ForecasterOptions {
    pub max_agents: usize,
    pub backend: Backend,
    pub precision: Precision,
    /// Seed of the sampler noise: the same seed and inputs give the same forecasts.
    pub seed: u64,
    /// CPU threads that share a frame's agents (`SessionOptions::threads`; 0 or 1: the
    /// calling thread only). The forecasts depend on it only to f32 rounding.
    pub threads: usize,
    /// Forecast a frame at the cost of its ready agents rather than of `max_agents`
    /// (`SessionOptions::fit_batches`; default on). The forecasts depend on it only to f32
    /// rounding.
    pub fit_batches: bool,
}

impl Default for ForecasterOptions {
    fn default() -> Self {
        ForecasterOptions {
            max_agents: 64,
            backend: Backend::Auto,
            precision: Precision::F32,
            seed: 0,
            threads: 1,
            fit_batches: true,
        }
    }
}

/// The output of [`Forecaster::predict`], allocated once by [`Forecaster::new_output`].
#[derive(Debug, Clone)]
pub struct Forecasts {
    k: usize,
    count: usize,
    agents: Vec<f64>,
    futures: Vec<[Point; PRED]>,
}

impl Forecasts {
    /// Number of agents forecast by the last `predict`.
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Futures per agent.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The id of the `i`-th forecast agent.
    pub fn agent(&self, i: usize) -> f64 {
        self.agents[i]
    }
    /// The `i`-th agent's K futures, 12 world positions each.
    pub fn futures(&self, i: usize) -> &[[Point; PRED]] {
        &self.futures[i * self.k..(i + 1) * self.k]
    }
}

/// See the module docs.
pub struct Forecaster {
    session: Session,
    k: usize,
    /// The card's future scale and feature layout.
    norm: Normalization,
    slots: Vec<Slot>,
    frames: Vec<Frame>,
    ready: Vec<usize>,
    cond: Vec<f32>,
    noise: Vec<f32>,
    out: Vec<f32>,
    step: u64,
    last_frame: f64,
    rng: Rng,
}

impl std::fmt::Debug for Forecaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forecaster")
            .field("k", &self.k)
            .field("max_agents", &self.slots.len())
            .finish()
    }
}

/// Checks that `model` is a trajectory model and returns K and its card's normalization (the
/// future scale and the condition's feature layout).
pub fn trajectory_shape(model: &Model) -> Result<(usize, Normalization), Error> {
    let not = |why: &str| Error::InvalidArgument(format!("not a fewstep trajectory model: {why}"));
    let card = model.card().ok_or_else(|| not("it has no card"))?;
    let norm: Normalization = serde_json::from_value(card.normalization.clone())
        .map_err(|e| not(&format!("its card has no trajectory normalization ({e})")))?;
    let shape_of = |name: &str| {
        card.inputs
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.shape.clone())
    };
    let state = shape_of(&card.roles.state).ok_or_else(|| not("no state input"))?;
    let k = match state.as_slice() {
        [CardDim::Sym(_), CardDim::Fixed(k), CardDim::Fixed(w)] if *w == FUTURE_VALUES => *k,
        _ => {
            return Err(not(&format!(
                "its state is {state:?}, expected [N, K, {FUTURE_VALUES}]"
            )));
        }
    };
    let cond = card
        .roles
        .cond
        .as_deref()
        .and_then(shape_of)
        .ok_or_else(|| not("no condition input"))?;
    let width = norm.features.cond_len();
    if !matches!(cond.as_slice(), [CardDim::Sym(_), CardDim::Fixed(c)] if *c == width) {
        return Err(not(&format!(
            "its condition is {cond:?}, expected [N, {width}] for features {}",
            norm.features.name()
        )));
    }
    if card.kind == Kind::Velocity && card.roles.time.is_none() {
        return Err(not("a velocity model without a time input"));
    }
    if !(norm.future_scale.is_finite() && norm.future_scale > 0.0) {
        return Err(not("future_scale must be positive"));
    }
    Ok((k, norm))
}

impl Forecaster {
    /// Builds the session for `max_agents` rows and every buffer.
    pub fn new(model: &Model, opts: ForecasterOptions) -> Result<Forecaster, Error> {
        let (k, norm) = trajectory_shape(model)?;
        if opts.max_agents == 0 {
            return Err(Error::InvalidArgument(
                "max_agents must be at least 1".into(),
            ));
        }
        let batch = model
            .symbols()
            .first()
            .cloned()
            .unwrap_or_else(|| "N".into());
        let mut so = SessionOptions {
            backend: opts.backend,
            precision: opts.precision,
            threads: opts.threads,
            fit_batches: opts.fit_batches,
            ..Default::default()
        };
        so.dims.insert(batch, opts.max_agents);
        let session = Session::new(model, so)?;
        let n = opts.max_agents;
        Ok(Forecaster {
            k,
            norm,
            slots: vec![FREE; n],
            frames: vec![
                Frame {
                    origin: [0.0; 2],
                    cos: 1.0,
                    sin: 0.0
                };
                n
            ],
            ready: Vec::with_capacity(n),
            cond: zeroed(session.cond_len(), "forecaster conditions")?,
            noise: zeroed(session.state_len(), "forecaster noise")?,
            out: zeroed(session.state_len(), "forecaster samples")?,
            session,
            step: 0,
            last_frame: f64::NEG_INFINITY,
            rng: Rng::new(opts.seed),
        })
    }

    /// An output buffer sized for this forecaster.
    pub fn new_output(&self) -> Forecasts {
        let n = self.slots.len();
        Forecasts {
            k: self.k,
            count: 0,
            agents: vec![0.0; n],
            futures: vec![[[0.0; 2]; PRED]; n * self.k],
        }
    }

    /// The session running the model (backend, precision, weight bytes).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Replaces the sampler's time grid by `steps` uniform steps over the card's interval.
    pub fn set_steps(&mut self, steps: usize) -> Result<(), Error> {
        self.session.set_uniform_steps(steps)
    }

    /// Replaces the sampler: method and time grid, refused as [`Session::set_sampler`] refuses.
    pub fn set_sampler(&mut self, method: Method, times: &[f32]) -> Result<(), Error> {
        self.session.set_sampler(method, times)
    }

    /// Records one frame's observations `(agent, x, y)`. Never allocates.
    pub fn observe(&mut self, frame: f64, obs: &[(f64, f32, f32)]) -> Result<(), Error> {
        if !frame.is_finite() || frame <= self.last_frame {
            return Err(Error::InvalidInput(
                "frame ids must be finite and increasing",
            ));
        }
        for (i, &(a, x, y)) in obs.iter().enumerate() {
            if !a.is_finite() || !x.is_finite() || !y.is_finite() {
                return Err(Error::NonFinite {
                    what: "observation",
                    index: i,
                });
            }
            if obs[..i].iter().any(|o| o.0 == a) {
                return Err(Error::InvalidInput("an agent appears twice in one frame"));
            }
        }
        // A slot can be taken by a new agent when it is free or its agent is absent from this
        // frame (vanished or skipping, which breaks its history anyway). Check capacity before
        // changing anything, so a rejected frame leaves the forecaster as it was.
        let new_agents = obs
            .iter()
            .filter(|o| !self.slots.iter().any(|s| s.used && s.agent == o.0))
            .count();
        let reusable = self
            .slots
            .iter()
            .filter(|s| !s.used || !obs.iter().any(|o| o.0 == s.agent))
            .count();
        if new_agents > reusable {
            return Err(Error::Capacity("more agents in view than max_agents"));
        }
        self.last_frame = frame;
        self.step += 1;
        let step = self.step;
        for &(a, x, y) in obs {
            if let Some(s) = self.slots.iter_mut().find(|s| s.used && s.agent == a) {
                s.push(x, y, step);
            }
        }
        for &(a, x, y) in obs {
            if self
                .slots
                .iter()
                .any(|s| s.used && s.agent == a && s.last_seen == step)
            {
                continue;
            }
            let s = self
                .slots
                .iter_mut()
                .find(|s| !s.used || s.last_seen != step)
                .expect("capacity checked above");
            *s = Slot {
                agent: a,
                used: true,
                ..FREE
            };
            s.push(x, y, step);
        }
        Ok(())
    }

    /// The condition rows the last [`predict`](Self::predict) fed the model, one per forecast
    /// agent in its output order (`len() * cond_len` values, in the card's feature layout).
    pub fn conditions(&self) -> &[f32] {
        &self.cond[..self.ready.len() * self.norm.features.cond_len()]
    }

    /// Forecasts every ready agent of the latest frame into `out`; returns how many.
    /// Every future in an `Ok` forecast is finite: a sample or a world coordinate that comes
    /// out NaN or infinite is `Error::NonFinite` (`what`: `"sample"` or `"forecast"`). On an
    /// error `out` holds no agents. Never allocates.
    pub fn predict(&mut self, out: &mut Forecasts) -> Result<usize, Error> {
        out.count = 0;
        if out.agents.len() != self.slots.len() || out.k != self.k {
            return Err(Error::InvalidInput(
                "output buffer was made by another forecaster",
            ));
        }
        self.ready.clear();
        self.cond.fill(0.0);
        let step = self.step;
        let (features, w) = (self.norm.features, self.norm.features.cond_len());
        let slots = &self.slots;
        for (i, s) in slots.iter().enumerate() {
            if s.used && s.len == OBS && s.last_seen == step {
                let row = self.ready.len();
                // the other agents of this frame, as a window of the same frame records them
                let neighbours = slots
                    .iter()
                    .enumerate()
                    .filter(|&(j, o)| j != i && o.used && o.len > 0 && o.last_seen == step)
                    .map(|(_, o)| Neighbour {
                        pos: o.hist[o.len - 1],
                        prev: (o.len > 1).then(|| o.hist[o.len - 2]),
                    });
                self.frames[row] =
                    features.write(&s.hist, neighbours, &mut self.cond[row * w..(row + 1) * w]);
                self.ready.push(i);
            }
        }
        if self.ready.is_empty() {
            return Ok(0);
        }
        // the whole batch's noise is drawn, so an agent's noise does not depend on the others
        self.rng.fill_normal(&mut self.noise);
        let rows = self.ready.len();
        let state_row = self.noise.len() / self.slots.len();
        self.session.sample_batch(
            rows,
            &self.cond[..rows * w],
            &self.noise[..rows * state_row],
            &mut self.out[..rows * state_row],
        )?;
        for (row, &slot) in self.ready.iter().enumerate() {
            out.agents[row] = self.slots[slot].agent;
            for m in 0..self.k {
                let y = &self.out
                    [(row * self.k + m) * FUTURE_VALUES..(row * self.k + m + 1) * FUTURE_VALUES];
                future_world(
                    &self.frames[row],
                    y,
                    self.norm.future_scale,
                    &mut out.futures[row * self.k + m],
                );
            }
        }
        let futures = out.futures[..self.ready.len() * self.k].as_flattened();
        check_finite(futures.as_flattened(), "forecast")?;
        out.count = self.ready.len();
        Ok(out.count)
    }
}
