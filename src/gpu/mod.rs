//! The GPU backend on wgpu (Vulkan, Metal, DX12): runs the same planned [`Graph`] as the native
//! backend with the WGSL kernels of `src/gpu/shaders/`.
//!
//! Layout on the device: one f32 `data` buffer holds the arena (inputs and activations, at the
//! plan's offsets), the constants and the sampler's state; it is bound once, read-write, so no
//! dispatch ever binds one buffer both read-only and writable. A second buffer holds f16: at
//! `Precision::F16` without `SHADER_F16`, the matrix weights two per u32 (f32 math); with
//! `SHADER_F16`, the activations (at the same plan offsets) and matrix weights as `f16`, while
//! graph inputs and outputs, values that feed `sin`/`cos`, small constants and the sampler's
//! state stay f32 in `data` ([`GpuF16Path`]). Kernels always compute and accumulate in f32.
//! Every dispatch reads its 256-byte parameter block from a third buffer through a dynamic
//! offset, so one bind group serves the whole graph.
//!
//! Everything is created in [`GpuEngine::new`]: buffers, the bind group, the pipelines and the
//! staging buffer. A run writes the inputs, records one command buffer (every sampler step
//! included), submits once and reads back once; it creates no wgpu object of ours
//! ([`objects_created`] counts them). WebGPU has no reusable command buffers, so a command
//! encoder per run is inherent; wgpu's own host allocations per run are reported by
//! `fewstep bench`, not hidden.

use std::cell::Cell;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use half::f16;

use crate::card::Method;
use crate::cpu::Act;
use crate::error::Error;
use crate::ir::{BinKind, Graph, Op, ReduceKind, Unary};
use crate::plan::{Loc, MemoryPlan};
use crate::{GpuF16Mode, Precision};

/// Parameter words per dispatch (256 bytes: WebGPU's dynamic-offset alignment).
const BLOCK: usize = 64;
/// Threads per workgroup of the 1-D kernels (`WG` in common.wgsl).
const WG: u32 = 64;
/// Tile edge of the linear kernel.
const TILE: u32 = 16;
/// Most axes a broadcast or transpose may have on the GPU (the parameter block holds 8).
const MAX_RANK: usize = 8;
/// Most graph outputs computed on the device (checked at build; `run` needs no allocation).
const MAX_OUTPUTS: usize = 8;
/// `NONE` in the shaders: an absent optional operand.
const NONE: u32 = u32::MAX;
/// `IN_F32` in store_f16.wgsl: on the SHADER_F16 path, an operand offset with this bit set
/// addresses the f32 `data` buffer, any other the f16 buffer.
const IN_F32: u32 = 1 << 31;

thread_local! {
    static OBJECTS: Cell<usize> = const { Cell::new(0) };
}

/// How many wgpu objects (buffers, bind groups, layouts, shader modules, pipelines) fewstep has
/// created on this thread. A run creates none: tests assert that this does not move.
pub fn objects_created() -> usize {
    OBJECTS.with(Cell::get)
}

fn counted<T>(x: T) -> T {
    OBJECTS.with(|c| c.set(c.get() + 1));
    x
}

/// The adapter and device, shared by every GPU session of the process.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Adapter name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub adapter: String,
    /// Whether the adapter offers `SHADER_F16`.
    pub shader_f16: bool,
    /// The first uncaptured device error (validation, out of memory, lost device).
    error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter)
            .finish()
    }
}

/// The process's GPU, created on first use. `Err` when there is no adapter (no driver, no
/// device): the message says what was tried.
pub fn context() -> Result<Arc<GpuContext>, Error> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    CTX.get_or_init(|| create_context().map(Arc::new))
        .clone()
        .map_err(Error::BackendUnavailable)
}

fn create_context() -> Result<GpuContext, String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|e| {
        format!("no GPU adapter ({e}); install a Vulkan driver, or use the native backend")
    })?;
    let info = adapter.get_info();
    let shader_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("fewstep"),
        required_features: if shader_f16 {
            wgpu::Features::SHADER_F16
        } else {
            wgpu::Features::empty()
        },
        required_limits: wgpu::Limits {
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            ..wgpu::Limits::downlevel_defaults()
        },
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| format!("GPU adapter {} refused a device: {e}", info.name))?;
    let error = Arc::new(Mutex::new(None));
    let slot = error.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(e.to_string());
        }
    }));
    Ok(GpuContext {
        device,
        queue,
        adapter: format!("{} ({:?})", info.name, info.backend),
        shader_f16,
        error,
    })
}

impl GpuContext {
    fn take_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The kernels, one pipeline each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Linear,
    MatMul,
    Binary,
    Unary,
    LayerNorm,
    Softmax,
    RmsNorm,
    Reduce,
    Copy2d,
    Axpy,
    Fill,
}

impl Kernel {
    const ALL: [Kernel; 11] = [
        Kernel::Linear,
        Kernel::MatMul,
        Kernel::Binary,
        Kernel::Unary,
        Kernel::LayerNorm,
        Kernel::Softmax,
        Kernel::RmsNorm,
        Kernel::Reduce,
        Kernel::Copy2d,
        Kernel::Axpy,
        Kernel::Fill,
    ];

    fn entry(self) -> &'static str {
        match self {
            Kernel::Linear => "linear",
            Kernel::MatMul => "matmul",
            Kernel::Binary => "binary",
            Kernel::Unary => "unary",
            Kernel::LayerNorm => "layer_norm",
            Kernel::Softmax => "softmax",
            Kernel::RmsNorm => "rms_norm",
            Kernel::Reduce => "reduce",
            Kernel::Copy2d => "copy2d",
            Kernel::Axpy => "axpy",
            Kernel::Fill => "fill",
        }
    }

    /// Index of the shader module holding the entry point.
    fn module(self) -> usize {
        match self {
            Kernel::Linear => 0,
            Kernel::MatMul => 1,
            Kernel::Binary | Kernel::Unary => 2,
            Kernel::LayerNorm | Kernel::Softmax | Kernel::RmsNorm | Kernel::Reduce => 3,
            Kernel::Copy2d | Kernel::Axpy | Kernel::Fill => 4,
        }
    }
}

const STORE_F32: &str = include_str!("shaders/store_f32.wgsl");
const STORE_F16: &str = include_str!("shaders/store_f16.wgsl");
const COMMON: &str = include_str!("shaders/common.wgsl");
const MODULES: [(&str, &str); 5] = [
    ("linear", include_str!("shaders/linear.wgsl")),
    ("matmul", include_str!("shaders/matmul.wgsl")),
    ("elementwise", include_str!("shaders/elementwise.wgsl")),
    ("norm", include_str!("shaders/norm.wgsl")),
    ("copy", include_str!("shaders/copy.wgsl")),
];

/// Activation code of common.wgsl's `act`.
fn act_code(a: Act) -> u32 {
    match a {
        Act::None => 0,
        Act::Relu => 1,
        Act::Gelu => 2,
        Act::GeluTanh => 3,
        Act::Silu => 4,
        Act::Tanh => 5,
        Act::Sigmoid => 6,
    }
}

/// Code of elementwise.wgsl's `unary`.
fn unary_code(u: Unary) -> u32 {
    match u {
        Unary::Relu => 1,
        Unary::Gelu => 2,
        Unary::GeluTanh => 3,
        Unary::Silu => 4,
        Unary::Tanh => 5,
        Unary::Sigmoid => 6,
        Unary::Neg => 7,
        Unary::Abs => 8,
        Unary::Exp => 9,
        Unary::Sqrt => 10,
        Unary::Recip => 11,
        Unary::Sin => 12,
        Unary::Cos => 13,
        Unary::Erf => 14,
        Unary::Square => 15,
        Unary::Rsqrt => 16,
        Unary::Ln => 17,
    }
}

fn bin_code(k: BinKind) -> u32 {
    match k {
        BinKind::Add => 0,
        BinKind::Sub => 1,
        BinKind::Mul => 2,
        BinKind::Div => 3,
        BinKind::Max => 4,
        BinKind::Min => 5,
        BinKind::Pow => 6,
    }
}
/// Binary kind 7: copy the first operand (broadcast copies, transposes).
const BIN_COPY: u32 = 7;

/// One kernel launch: its pipeline, parameter block and grid.
#[derive(Debug, Clone, Copy)]
struct Dispatch {
    kernel: Kernel,
    block: u32,
    groups: (u32, u32),
}

/// Parameter blocks and the launches that read them.
#[derive(Debug, Default)]
struct Program {
    blocks: Vec<[u32; BLOCK]>,
    dispatches: Vec<Dispatch>,
}

impl Program {
    fn push(&mut self, kernel: Kernel, params: &[u32], groups: (u32, u32)) -> Result<(), Error> {
        if params.len() > BLOCK {
            return Err(Error::Unsupported(format!(
                "{} needs {} parameter words (the GPU block holds {BLOCK})",
                kernel.entry(),
                params.len()
            )));
        }
        let mut b = [0u32; BLOCK];
        b[..params.len()].copy_from_slice(params);
        self.dispatches.push(Dispatch {
            kernel,
            block: self.blocks.len() as u32,
            groups,
        });
        self.blocks.push(b);
        Ok(())
    }

    /// A 1-D launch of `n` invocations in workgroups of `WG`.
    fn push_1d(&mut self, kernel: Kernel, params: &[u32], n: usize) -> Result<(), Error> {
        if n == 0 {
            return Ok(());
        }
        self.push(kernel, params, grid_1d(n.div_ceil(WG as usize))?)
    }
}

/// Splits `groups` workgroups over x (≤ 65535) and y.
fn grid_1d(groups: usize) -> Result<(u32, u32), Error> {
    const MAX: usize = 65535;
    let x = groups.min(MAX);
    let y = groups.div_ceil(MAX);
    if y > MAX {
        return Err(Error::Unsupported(format!(
            "{groups} workgroups exceed the GPU grid"
        )));
    }
    Ok((x as u32, y as u32))
}

fn u(x: usize) -> Result<u32, Error> {
    u32::try_from(x)
        .map_err(|_| Error::Unsupported(format!("{x} does not fit the GPU's 32-bit indices")))
}

/// Which fp16 path a GPU session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuF16Path {
    /// f32 weights and math.
    None,
    /// f16 weights packed two per u32 (`unpack2x16float`), f32 activations, math and
    /// accumulation: any adapter.
    PackedWeights,
    /// `SHADER_F16`: f16 weights and activations in storage, f32 math and accumulation (norms
    /// and reductions included); graph inputs and outputs, values that feed `sin`/`cos`, small
    /// constants and the sampler's state stay f32.
    ShaderF16,
}

impl GpuF16Path {
    /// How `fewstep info` and `fewstep bench` name the path.
    pub fn describe(self) -> &'static str {
        match self {
            GpuF16Path::None => "f32",
            GpuF16Path::PackedWeights => "packed f16 weights, f32 activations and math",
            GpuF16Path::ShaderF16 => "SHADER_F16: f16 weights and activations, f32 math",
        }
    }
}

/// Timings of the last run, for `fewstep bench --backend gpu`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuTiming {
    /// Writing inputs and recording the command buffer.
    pub encode: Duration,
    /// From submit until the results are on the host.
    pub submit_to_readback: Duration,
}

/// Where a graph output lives on the device.
#[derive(Debug, Clone, Copy)]
enum OutLoc {
    Data { offset: usize, len: usize },
    Const(usize),
    None,
}

/// The roles of the sampler's inputs and output, as offsets into `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuRoles {
    pub generator: bool,
    pub state: usize,
    pub time: Option<usize>,
    pub cond: Option<usize>,
    pub output: usize,
}

/// A graph ready to run on the GPU.
pub struct GpuEngine {
    ctx: Arc<GpuContext>,
    data: wgpu::Buffer,
    staging: wgpu::Buffer,
    params: wgpu::Buffer,
    /// Binding 1: packed f16 weights, or on the SHADER_F16 path the f16 arena and weights.
    half: wgpu::Buffer,
    layout: wgpu::BindGroupLayout,
    bind_group: wgpu::BindGroup,
    pipelines: Vec<wgpu::ComputePipeline>,
    forward: Program,
    /// The sampler's program for `key`; rebuilt only when the time grid or method changes.
    sampler: Option<(Method, Vec<f32>, GpuRoles, Program)>,
    inputs: Vec<(usize, usize)>,
    input_host: Vec<Vec<f32>>,
    outputs: Vec<OutLoc>,
    output_host: Vec<Vec<f32>>,
    /// Sampler state `x` and scratch `s` in `data`.
    x_off: usize,
    s_off: usize,
    state_len: usize,
    params_capacity: usize,
    weight_bytes: usize,
    arena_bytes: usize,
    f16_path: GpuF16Path,
    compile_time: Duration,
    timing: GpuTiming,
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine")
            .field("adapter", &self.ctx.adapter)
            .field("dispatches", &self.forward.dispatches.len())
            .finish()
    }
}

impl GpuEngine {
    /// Builds the engine: uploads weights (f16-packed for `Precision::F16`), creates every
    /// buffer, the bind group and the pipelines, and records the forward program.
    /// `state_input` (the card's state input, if any) sizes the sampler's state buffers.
    pub fn new(
        g: &Graph,
        plan: &MemoryPlan,
        precision: Precision,
        mode: GpuF16Mode,
        state_input: Option<usize>,
    ) -> Result<GpuEngine, Error> {
        let ctx = context()?;
        let state_len = state_input.map_or(0, |i| g.values[g.inputs[i]].len());
        let f16_path = match (precision, mode) {
            (Precision::F32, _) => GpuF16Path::None,
            (Precision::F16, GpuF16Mode::PackedWeights) => GpuF16Path::PackedWeights,
            (Precision::F16, GpuF16Mode::Auto) if !ctx.shader_f16 => GpuF16Path::PackedWeights,
            (Precision::F16, GpuF16Mode::ShaderF16) if !ctx.shader_f16 => {
                return Err(Error::BackendUnavailable(format!(
                    "GPU adapter {} has no SHADER_F16 (use the packed f16 path)",
                    ctx.adapter
                )));
            }
            (Precision::F16, _) => GpuF16Path::ShaderF16,
        };
        let shader = f16_path == GpuF16Path::ShaderF16;
        // Linear weights used nowhere else are f16 (packed or `h`) or stay f32 in `data`.
        let weight_only = g.linear_weight_only();
        // On the SHADER_F16 path: the values kept f32 in `data`.
        let wide = f32_values(g);
        // the arena alone must fit one storage binding: refused before anything is allocated
        let max_binding = ctx.device.limits().max_storage_buffer_binding_size as usize;
        if plan.arena_len.saturating_mul(4) > max_binding {
            return Err(Error::Unsupported(format!(
                "{} MB of GPU activations exceed the adapter's {} MB storage binding limit",
                plan.arena_len.saturating_mul(4) >> 20,
                max_binding >> 20
            )));
        }
        // `data`: arena, then the constants, then x and s of the sampler.
        let mut host: Vec<f32> = crate::buffers::zeroed(plan.arena_len, "GPU activation arena")?;
        // binding 1: packed f16 weights (u32 pairs of f16 bits), or on the SHADER_F16 path the
        // f16 arena followed by the f16 weights
        let mut half: Vec<u16> = Vec::new();
        if shader {
            half.resize(plan.arena_len, 0);
        }
        let mut const_at = Vec::with_capacity(plan.consts.len());
        let mut weight_bytes = 0;
        let mut consts = Vec::with_capacity(plan.consts.len());
        for &v in &plan.consts {
            let d = g.const_data(v).expect("planned const");
            consts.push(d.to_vec());
            if weight_only[v] && f16_path != GpuF16Path::None {
                // packed: even element offsets keep each matrix's pairs in whole words
                half.resize(half.len().next_multiple_of(2), 0);
                let at = half.len();
                half.extend(d.iter().map(|&x| f16::from_f32(x).to_bits()));
                weight_bytes += d.len() * 2;
                const_at.push(ConstAt::Half(at));
            } else {
                const_at.push(ConstAt::Data(host.len()));
                host.extend_from_slice(d);
                weight_bytes += d.len() * 4;
            }
        }
        let x_off = host.len();
        host.resize(x_off + 2 * state_len, 0.0);
        let s_off = x_off + state_len;
        // whole u32 words, and never an empty binding
        half.resize(half.len().next_multiple_of(2).max(2), 0);
        if shader && (host.len() >= IN_F32 as usize || half.len() >= IN_F32 as usize) {
            return Err(Error::Unsupported(
                "a model too large for the SHADER_F16 path's 31-bit offsets".into(),
            ));
        }
        // the shader address of a value in `data`
        let in_f32 = |o: u32| if shader { o | IN_F32 } else { o };
        // (packed f16, shader address) of value `v`
        let loc = |v: usize| -> Result<(bool, u32), Error> {
            match plan.locs[v] {
                Loc::Arena { offset, .. } if shader && !wide[v] => Ok((false, u(offset)?)),
                Loc::Arena { offset, .. } => Ok((false, in_f32(u(offset)?))),
                Loc::Const(c) => match const_at[c] {
                    ConstAt::Data(o) => Ok((false, in_f32(u(o)?))),
                    ConstAt::Half(o) => Ok((!shader, u(o)?)),
                },
                Loc::None => Err(Error::Unsupported("an operand is not materialized".into())),
            }
        };
        let in_data = |v: usize| -> Result<u32, Error> {
            match loc(v)? {
                (false, o) => Ok(o),
                (true, _) => Err(Error::Unsupported(
                    "an f16 weight used as an activation".into(),
                )),
            }
        };
        let mut forward = Program::default();
        for n in &g.nodes {
            let out_len = match plan.locs[n.output] {
                Loc::Arena { len, .. } => len,
                _ => unreachable!("a node output is always in the arena"),
            };
            encode_node(
                &n.op,
                &n.name,
                &n.inputs,
                in_data(n.output)?,
                out_len,
                &loc,
                &in_data,
                &mut forward,
            )?;
        }
        let inputs: Vec<(usize, usize)> = g
            .inputs
            .iter()
            .map(|&v| match plan.locs[v] {
                Loc::Arena { offset, len } => (offset, len),
                _ => unreachable!("inputs are in the arena"),
            })
            .collect();
        let outputs: Vec<OutLoc> = g
            .outputs
            .iter()
            .map(|&v| match plan.locs[v] {
                Loc::Arena { offset, len } => OutLoc::Data { offset, len },
                Loc::Const(c) => OutLoc::Const(c),
                Loc::None => OutLoc::None,
            })
            .collect();
        let out_total: usize = outputs
            .iter()
            .map(|o| match o {
                OutLoc::Data { len, .. } => *len,
                _ => 0,
            })
            .sum();
        // `run` reads the outputs back through a fixed array of MAX_OUTPUTS regions
        if outputs
            .iter()
            .filter(|o| matches!(o, OutLoc::Data { .. }))
            .count()
            > MAX_OUTPUTS
        {
            return Err(Error::Unsupported(format!(
                "more than {MAX_OUTPUTS} graph outputs on the GPU"
            )));
        }
        let staging_len = out_total.max(state_len).max(1);
        let input_host = inputs.iter().map(|&(_, l)| vec![0.0; l]).collect();
        let output_host = outputs
            .iter()
            .map(|o| match *o {
                OutLoc::Data { len, .. } => vec![0.0; len],
                OutLoc::Const(c) => consts[c].clone(),
                OutLoc::None => Vec::new(),
            })
            .collect();

        let device = &ctx.device;
        // the arena alone was checked before it was allocated; with the constants, again here
        if host.len() * 4 > max_binding || half.len() * 2 > max_binding {
            return Err(Error::Unsupported(format!(
                "{} MB of GPU data exceed the adapter's {} MB storage binding limit",
                (host.len() * 4) >> 20,
                max_binding >> 20
            )));
        }
        let started = Instant::now();
        let data = counted(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fewstep data"),
            size: (host.len().max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }));
        ctx.queue
            .write_buffer(&data, 0, bytemuck::cast_slice(&host));
        let half_buf = counted(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fewstep f16"),
            size: (half.len() * 2) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }));
        ctx.queue
            .write_buffer(&half_buf, 0, bytemuck::cast_slice(&half));
        let staging = counted(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fewstep readback"),
            size: (staging_len * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }));
        let storage = |binding: u32, read_only: bool, dynamic: bool| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: dynamic,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = counted(
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("fewstep bindings"),
                entries: &[
                    storage(0, false, false),
                    storage(1, !shader, false),
                    storage(2, true, true),
                ],
            }),
        );
        let pipeline_layout = counted(device.create_pipeline_layout(
            &wgpu::PipelineLayoutDescriptor {
                label: Some("fewstep pipeline layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            },
        ));
        let store = if shader { STORE_F16 } else { STORE_F32 };
        let modules: Vec<wgpu::ShaderModule> = MODULES
            .iter()
            .map(|(name, src)| {
                counted(device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(format!("{store}\n{COMMON}\n{src}").into()),
                }))
            })
            .collect();
        let pipelines = Kernel::ALL
            .iter()
            .map(|k| {
                counted(
                    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(k.entry()),
                        layout: Some(&pipeline_layout),
                        module: &modules[k.module()],
                        entry_point: Some(k.entry()),
                        compilation_options: Default::default(),
                        cache: None,
                    }),
                )
            })
            .collect();
        let compile_time = started.elapsed();
        let params_capacity = forward.blocks.len().max(1);
        let params = create_params(device, params_capacity);
        let bind_group = create_bind_group(device, &layout, &data, &half_buf, &params);
        let mut e = GpuEngine {
            ctx: ctx.clone(),
            data,
            staging,
            params,
            half: half_buf,
            layout,
            bind_group,
            pipelines,
            forward,
            sampler: None,
            inputs,
            input_host,
            outputs,
            output_host,
            x_off,
            s_off,
            state_len,
            params_capacity,
            weight_bytes,
            // the SHADER_F16 path keeps an f16 and an f32 view of the arena
            arena_bytes: plan.arena_len * if shader { 6 } else { 4 },
            f16_path,
            compile_time,
            timing: GpuTiming::default(),
        };
        e.upload_blocks(None);
        if let Some(err) = ctx.take_error() {
            return Err(Error::BackendUnavailable(format!(
                "GPU session build failed: {err}"
            )));
        }
        Ok(e)
    }

    /// The adapter this engine runs on.
    pub fn adapter(&self) -> &str {
        &self.ctx.adapter
    }

    pub fn f16_path(&self) -> GpuF16Path {
        self.f16_path
    }

    /// Time spent creating shader modules and pipelines at build.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    pub fn timing(&self) -> GpuTiming {
        self.timing
    }

    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Kernel launches of one forward pass.
    pub fn dispatches(&self) -> usize {
        self.forward.dispatches.len()
    }

    /// The host copy of graph input `i`; written to the device by `run`.
    pub fn input_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.input_host[i]
    }

    /// Graph output `i` after `run`.
    pub fn output(&self, i: usize) -> &[f32] {
        &self.output_host[i]
    }

    /// Writes the forward blocks and, if any, the sampler's blocks after them.
    fn upload_blocks(&mut self, sampler: Option<&Program>) {
        let fwd = &self.forward.blocks;
        let extra = sampler.map_or(0, |p| p.blocks.len());
        let needed = (fwd.len() + extra).max(1);
        if needed > self.params_capacity {
            self.params_capacity = needed.next_power_of_two();
            self.params = create_params(&self.ctx.device, self.params_capacity);
            self.bind_group = create_bind_group(
                &self.ctx.device,
                &self.layout,
                &self.data,
                &self.half,
                &self.params,
            );
        }
        let q = &self.ctx.queue;
        if !fwd.is_empty() {
            q.write_buffer(&self.params, 0, bytemuck::cast_slice(fwd));
        }
        if let Some(p) = sampler
            && !p.blocks.is_empty()
        {
            let at = (fwd.len() * BLOCK * 4) as u64;
            q.write_buffer(&self.params, at, bytemuck::cast_slice(&p.blocks));
        }
    }

    /// Records `dispatches` (of a program whose blocks start at `block_base` in `params`).
    fn record(&self, pass: &mut wgpu::ComputePass<'_>, dispatches: &[Dispatch], block_base: usize) {
        for d in dispatches {
            pass.set_pipeline(&self.pipelines[d.kernel as usize]);
            let offset = ((block_base + d.block as usize) * BLOCK * 4) as u32;
            pass.set_bind_group(0, &self.bind_group, &[offset]);
            pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
        }
    }

    /// Submits `encoder` and copies `len` floats of `data` at each `(offset, len)` back.
    fn submit_and_read(
        &mut self,
        mut encoder: wgpu::CommandEncoder,
        regions: &[(usize, usize)],
        started: Instant,
        mut sink: impl FnMut(usize, &[f32]),
    ) -> Result<(), Error> {
        let mut at = 0u64;
        for &(offset, len) in regions {
            encoder.copy_buffer_to_buffer(
                &self.data,
                (offset * 4) as u64,
                &self.staging,
                at,
                (len * 4) as u64,
            );
            at += (len * 4) as u64;
        }
        let submitted = Instant::now();
        self.timing.encode = submitted - started;
        self.ctx.queue.submit(Some(encoder.finish()));
        let slice = self.staging.slice(0..at.max(4));
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|_| Error::GpuRun)?;
        if self.ctx.take_error().is_some() {
            return Err(Error::GpuRun);
        }
        {
            let view = slice.get_mapped_range().map_err(|_| Error::GpuRun)?;
            let all: &[f32] = bytemuck::cast_slice(&view[..]);
            let mut at = 0;
            for (i, &(_, len)) in regions.iter().enumerate() {
                sink(i, &all[at..at + len]);
                at += len;
            }
        }
        self.staging.unmap();
        self.timing.submit_to_readback = submitted.elapsed();
        Ok(())
    }

    /// One forward pass: inputs from the host copies, outputs into them.
    pub fn run(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        for (i, &(offset, _)) in self.inputs.iter().enumerate() {
            self.ctx.queue.write_buffer(
                &self.data,
                (offset * 4) as u64,
                bytemuck::cast_slice(&self.input_host[i]),
            );
        }
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            self.record(&mut pass, &self.forward.dispatches, 0);
        }
        // at most a handful of outputs: a fixed array keeps the run allocation-free
        let mut regions = [(0usize, 0usize); MAX_OUTPUTS];
        let mut which = [usize::MAX; MAX_OUTPUTS];
        let mut n = 0;
        for (i, o) in self.outputs.iter().enumerate() {
            if let OutLoc::Data { offset, len } = *o {
                regions[n] = (offset, len);
                which[n] = i;
                n += 1;
            }
        }
        let mut host = std::mem::take(&mut self.output_host);
        let r = self.submit_and_read(encoder, &regions[..n], started, |k, v| {
            host[which[k]].copy_from_slice(v)
        });
        self.output_host = host;
        r
    }

    /// Samples on the device: `cond` and `noise` in, every step of `method` over `times` in one
    /// command buffer, the final state out.
    pub fn sample(
        &mut self,
        roles: GpuRoles,
        method: Method,
        times: &[f32],
        cond: &[f32],
        noise: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let started = Instant::now();
        let current = matches!(&self.sampler, Some((m, t, r, _)) if *m == method && t == times && *r == roles);
        if !current {
            let p = self.sampler_program(roles, method, times)?;
            self.upload_blocks(Some(&p));
            self.sampler = Some((method, times.to_vec(), roles, p));
        }
        let q = &self.ctx.queue;
        if let Some(c) = roles.cond {
            q.write_buffer(&self.data, (c * 4) as u64, bytemuck::cast_slice(cond));
        }
        let noise_at = if roles.generator {
            roles.state
        } else {
            self.x_off
        };
        q.write_buffer(
            &self.data,
            (noise_at * 4) as u64,
            bytemuck::cast_slice(noise),
        );
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            let (_, _, _, program) = self.sampler.as_ref().expect("built above");
            let fwd = self.forward.blocks.len();
            // the sampler program interleaves its own launches with forward passes, marked by
            // a block index of u32::MAX
            let mut start = 0;
            for (i, d) in program.dispatches.iter().enumerate() {
                if d.block == u32::MAX {
                    self.record(&mut pass, &program.dispatches[start..i], fwd);
                    self.record(&mut pass, &self.forward.dispatches, 0);
                    start = i + 1;
                }
            }
            self.record(&mut pass, &program.dispatches[start..], fwd);
        }
        let result_at = if roles.generator {
            roles.output
        } else {
            self.x_off
        };
        self.submit_and_read(encoder, &[(result_at, out.len())], started, |_, v| {
            out.copy_from_slice(v)
        })
    }

    /// The launches of one sample; a dispatch with block `u32::MAX` stands for a forward pass.
    fn sampler_program(
        &self,
        r: GpuRoles,
        method: Method,
        times: &[f32],
    ) -> Result<Program, Error> {
        let mut p = Program::default();
        let forward = |p: &mut Program| {
            p.dispatches.push(Dispatch {
                kernel: Kernel::Fill,
                block: u32::MAX,
                groups: (0, 0),
            })
        };
        if r.generator {
            forward(&mut p);
            return Ok(p);
        }
        let n = self.state_len;
        let nu = u(n)?;
        let (x, s, state, v) = (u(self.x_off)?, u(self.s_off)?, u(r.state)?, u(r.output)?);
        let time_len = self.time_len(r);
        let fill = |p: &mut Program, t: f32| -> Result<(), Error> {
            if let Some(at) = r.time {
                p.push_1d(Kernel::Fill, &[u(time_len)?, u(at)?, t.to_bits()], time_len)?;
            }
            Ok(())
        };
        let axpy = |p: &mut Program, dst: u32, a: u32, b: u32, alpha: f32| {
            p.push_1d(Kernel::Axpy, &[nu, dst, a, b, alpha.to_bits()], n)
        };
        for w in times.windows(2) {
            let (t0, t1) = (w[0], w[1]);
            let dt = t1 - t0;
            match method {
                Method::Euler => {
                    fill(&mut p, t0)?;
                    axpy(&mut p, state, x, NONE, 0.0)?;
                    forward(&mut p);
                    axpy(&mut p, x, x, v, dt)?;
                }
                Method::Heun => {
                    fill(&mut p, t0)?;
                    axpy(&mut p, state, x, NONE, 0.0)?;
                    forward(&mut p);
                    axpy(&mut p, s, x, v, dt)?;
                    axpy(&mut p, x, x, v, 0.5 * dt)?;
                    fill(&mut p, t1)?;
                    axpy(&mut p, state, s, NONE, 0.0)?;
                    forward(&mut p);
                    axpy(&mut p, x, x, v, 0.5 * dt)?;
                }
                Method::Midpoint => {
                    fill(&mut p, t0)?;
                    axpy(&mut p, state, x, NONE, 0.0)?;
                    forward(&mut p);
                    axpy(&mut p, s, x, v, 0.5 * dt)?;
                    fill(&mut p, t0 + 0.5 * dt)?;
                    axpy(&mut p, state, s, NONE, 0.0)?;
                    forward(&mut p);
                    axpy(&mut p, x, x, v, dt)?;
                }
            }
        }
        Ok(p)
    }

    fn time_len(&self, r: GpuRoles) -> usize {
        r.time
            .and_then(|at| self.inputs.iter().find(|(o, _)| *o == at).map(|&(_, l)| l))
            .unwrap_or(0)
    }

    /// Offset in `data` of graph input `i`.
    pub fn input_offset(&self, i: usize) -> usize {
        self.inputs[i].0
    }

    /// Offset in `data` of graph output `i`, if it is computed on the device.
    pub fn output_offset(&self, i: usize) -> Option<usize> {
        match self.outputs[i] {
            OutLoc::Data { offset, .. } => Some(offset),
            _ => None,
        }
    }
}

/// Where a planned constant lives on the device.
#[derive(Debug, Clone, Copy)]
enum ConstAt {
    /// f32 in `data`, at this element offset.
    Data(usize),
    /// f16 in the second buffer (packed pairs or `h`), at this element offset.
    Half(usize),
}

/// The values the SHADER_F16 path keeps in f32: graph inputs and outputs (the host and the
/// sampler read and write them as f32) and the arguments of `sin`/`cos`, whose phases (e.g.
/// `t` times a time-embedding frequency) need more than f16's 11 significant bits. Indexed by
/// value; an alias (a reshape's output) shares its root's memory, so it is marked and looked up
/// through the root.
fn f32_values(g: &Graph) -> Vec<bool> {
    let mut wide = vec![false; g.values.len()];
    for &v in g.inputs.iter().chain(&g.outputs) {
        wide[g.root(v)] = true;
    }
    for n in &g.nodes {
        if matches!(n.op, Op::Unary(Unary::Sin | Unary::Cos)) {
            for &v in &n.inputs {
                wide[g.root(v)] = true;
            }
        }
    }
    for v in 0..g.values.len() {
        wide[v] = wide[g.root(v)];
    }
    wide
}

fn create_params(device: &wgpu::Device, blocks: usize) -> wgpu::Buffer {
    counted(device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("fewstep parameters"),
        size: (blocks * BLOCK * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

fn create_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    data: &wgpu::Buffer,
    half: &wgpu::Buffer,
    params: &wgpu::Buffer,
) -> wgpu::BindGroup {
    counted(device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("fewstep bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: data.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: half.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: params,
                    offset: 0,
                    size: wgpu::BufferSize::new((BLOCK * 4) as u64),
                }),
            },
        ],
    }))
}

/// Records the launches of one node into `prog`.
#[allow(clippy::too_many_arguments)]
fn encode_node(
    op: &Op,
    name: &str,
    ins: &[usize],
    out: u32,
    out_len: usize,
    loc: &dyn Fn(usize) -> Result<(bool, u32), Error>,
    data: &dyn Fn(usize) -> Result<u32, Error>,
    prog: &mut Program,
) -> Result<(), Error> {
    let unsupported = |why: &str| Err(Error::Unsupported(format!("{name}: {why} on the GPU")));
    match op {
        Op::Linear {
            m,
            k,
            n,
            act,
            has_bias,
        } => {
            let (packed, w) = loc(ins[1])?;
            let bias = if *has_bias { data(ins[2])? } else { NONE };
            let groups = (u(n.div_ceil(TILE as usize))?, u(m.div_ceil(TILE as usize))?);
            if groups.0 > 65535 || groups.1 > 65535 {
                return unsupported("a matrix too large for one launch");
            }
            if *m == 0 || *n == 0 {
                return Ok(());
            }
            prog.push(
                Kernel::Linear,
                &[
                    u(*m)?,
                    u(*k)?,
                    u(*n)?,
                    data(ins[0])?,
                    w,
                    bias,
                    out,
                    act_code(*act),
                    packed as u32,
                ],
                groups,
            )
        }
        Op::MatMul(s) => {
            if s.batch.len() > 12 {
                return unsupported("more than 12 batch axes");
            }
            let count: usize = s.batch.iter().map(|b| b.0).product();
            let total = count * s.m * s.n;
            let mut p = vec![
                u(s.m)?,
                u(s.n)?,
                u(s.k)?,
                u(s.rsa)?,
                u(s.csa)?,
                u(s.rsb)?,
                u(s.csb)?,
                u(s.ldc)?,
                data(ins[0])?,
                data(ins[1])?,
                out,
                s.batch.len() as u32,
                u(total)?,
            ];
            for &(len, sa, sb, sc) in &s.batch {
                p.extend([u(len)?, u(sa)?, u(sb)?, u(sc)?]);
            }
            prog.push_1d(Kernel::MatMul, &p, total)
        }
        Op::Binary { kind, layout } => {
            elementwise(bin_code(*kind), layout, ins, out, out_len, data, prog, name)
        }
        Op::BroadcastTo { layout } => {
            elementwise(BIN_COPY, layout, ins, out, out_len, data, prog, name)
        }
        Op::Transpose { shape, perm } => {
            let r = shape.len();
            if r > MAX_RANK {
                return unsupported("a transpose of rank > 8");
            }
            let mut in_strides = vec![0usize; r];
            let mut acc = 1;
            for d in (0..r).rev() {
                in_strides[d] = acc;
                acc *= shape[d];
            }
            let layout = crate::ir::Broadcast {
                shape: perm.iter().map(|&q| shape[q]).collect(),
                strides: vec![perm.iter().map(|&q| in_strides[q]).collect()],
            };
            elementwise(BIN_COPY, &layout, ins, out, out_len, data, prog, name)
        }
        Op::Unary(un) => prog.push_1d(
            Kernel::Unary,
            &[unary_code(*un), u(out_len)?, data(ins[0])?, out],
            out_len,
        ),
        Op::LayerNorm { d, eps, has_beta } => {
            let rows = out_len / d.max(&1);
            let beta = if *has_beta { data(ins[2])? } else { NONE };
            if rows == 0 {
                return Ok(());
            }
            prog.push(
                Kernel::LayerNorm,
                &[
                    u(rows)?,
                    u(*d)?,
                    data(ins[0])?,
                    data(ins[1])?,
                    beta,
                    out,
                    eps.to_bits(),
                ],
                grid_1d(rows)?,
            )
        }
        Op::RmsNorm { around, eps } => prog.push_1d(
            Kernel::RmsNorm,
            &[
                u(around.outer)?,
                u(around.axis)?,
                u(around.inner)?,
                data(ins[0])?,
                out,
                eps.to_bits(),
            ],
            around.outer * around.inner,
        ),
        Op::Reduce { kind, around } => {
            let k = match kind {
                ReduceKind::Sum => 0,
                ReduceKind::Max => 1,
                ReduceKind::Min => 2,
                ReduceKind::MeanOfSquares => 3,
            };
            prog.push_1d(
                Kernel::Reduce,
                &[
                    u(around.outer)?,
                    u(around.axis)?,
                    u(around.inner)?,
                    data(ins[0])?,
                    out,
                    k,
                ],
                around.outer * around.inner,
            )
        }
        Op::Softmax { around } => prog.push_1d(
            Kernel::Softmax,
            &[
                u(around.outer)?,
                u(around.axis)?,
                u(around.inner)?,
                data(ins[0])?,
                out,
            ],
            around.outer * around.inner,
        ),
        Op::Concat { outer, inners } => {
            let total: usize = inners.iter().sum();
            let mut at = 0;
            for (i, &inner) in inners.iter().enumerate() {
                copy2d(
                    prog,
                    *outer,
                    inner,
                    data(ins[i])?,
                    inner,
                    out + u(at)?,
                    total,
                )?;
                at += inner;
            }
            Ok(())
        }
        Op::Slice { around, start, end } => {
            let w = (end - start) * around.inner;
            let src = data(ins[0])? + u(start * around.inner)?;
            copy2d(
                prog,
                around.outer,
                w,
                src,
                around.axis * around.inner,
                out,
                w,
            )
        }
        Op::Gather { around, indices } => {
            let x = data(ins[0])?;
            let inner = around.inner;
            let row = indices.len() * inner;
            for (j, &idx) in indices.iter().enumerate() {
                copy2d(
                    prog,
                    around.outer,
                    inner,
                    x + u(idx * inner)?,
                    around.axis * inner,
                    out + u(j * inner)?,
                    row,
                )?;
            }
            Ok(())
        }
        Op::Copy => copy2d(prog, 1, out_len, data(ins[0])?, out_len, out, out_len),
    }
}

fn copy2d(
    prog: &mut Program,
    rows: usize,
    width: usize,
    src: u32,
    src_stride: usize,
    dst: u32,
    dst_stride: usize,
) -> Result<(), Error> {
    prog.push_1d(
        Kernel::Copy2d,
        &[
            u(rows)?,
            u(width)?,
            src,
            u(src_stride)?,
            dst,
            u(dst_stride)?,
        ],
        rows * width,
    )
}

#[allow(clippy::too_many_arguments)]
fn elementwise(
    kind: u32,
    layout: &crate::ir::Broadcast,
    ins: &[usize],
    out: u32,
    out_len: usize,
    data: &dyn Fn(usize) -> Result<u32, Error>,
    prog: &mut Program,
    name: &str,
) -> Result<(), Error> {
    let r = layout.shape.len();
    if r > MAX_RANK {
        return Err(Error::Unsupported(format!(
            "{name}: a broadcast of rank > {MAX_RANK} on the GPU"
        )));
    }
    let a = data(ins[0])?;
    let b = if kind == BIN_COPY { a } else { data(ins[1])? };
    let mut p = vec![0u32; 30];
    p[0] = kind;
    p[1] = r as u32;
    p[2] = u(out_len)?;
    p[3] = a;
    p[4] = b;
    p[5] = out;
    for d in 0..r {
        p[6 + d] = u(layout.shape[d])?;
        p[14 + d] = u(layout.strides[0][d])?;
        p[22 + d] = if kind == BIN_COPY {
            0
        } else {
            u(layout.strides[1][d])?
        };
    }
    prog.push_1d(Kernel::Binary, &p, out_len)
}
