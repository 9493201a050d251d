//! `fewstep-distill`: teacher training and distillation. The training code lands with the
//! distill issue; until then this binary only reports that and exits non-zero.

fn main() {
    eprintln!(
        "fewstep-distill {}: training is not implemented yet (see the distill issue); \
         the runtime it exports to is `fewstep` {}",
        env!("CARGO_PKG_VERSION"),
        fewstep::VERSION
    );
    std::process::exit(2);
}
