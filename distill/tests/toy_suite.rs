//! The toy 2-D suite trains a teacher and the three students in about half a minute and holds
//! each one-step student to the teacher: its sliced Wasserstein distance to fresh data must be
//! within 2× the teacher's with 32 Euler steps, and below 0.4× the teacher's with one step
//! (which collapses every condition onto its mean).
//!
//! Measured (`cargo run --release -p fewstep-distill -- toy`, seeds 0 and 1): teacher 32 steps
//! 0.072 / 0.073, teacher 1 step 0.453 / 0.450, reflow 0.065 / 0.065, MDT-dist 0.110 / 0.110,
//! IMLE 0.070 / 0.075.

use fewstep_distill::toy::{ToyOptions, run};

#[test]
fn every_one_step_student_is_near_the_teacher_and_far_better_than_its_one_step_sampling() {
    let r = run(&ToyOptions::default()).unwrap();
    eprintln!("{r:?}");
    assert!(r.teacher_n < 0.15, "the teacher did not learn: {r:?}");
    assert!(r.teacher_1 > 0.3, "one-step teacher should collapse: {r:?}");
    for (name, sw) in [
        ("reflow", r.reflow_1),
        ("MDT-dist", r.mdt_1),
        ("IMLE", r.imle),
    ] {
        assert!(
            sw <= 2.0 * r.teacher_n,
            "{name}: SW {sw:.4} > 2 × teacher {:.4}",
            r.teacher_n
        );
        assert!(
            sw < 0.4 * r.teacher_1,
            "{name}: SW {sw:.4} not clearly better than the one-step teacher {:.4}",
            r.teacher_1
        );
    }
    // two Euler steps of the reflow student stay on its straight paths
    assert!(r.reflow_2 <= 2.0 * r.teacher_n, "{r:?}");
}

/// Minibatch OT coupling (`--minibatch-ot`) straightens the teacher's paths: its one-step
/// sample, which collapses onto each condition's mean without it (the test above holds it
/// above 0.3), lands near the data. Measured (`cargo run --release -p fewstep-distill -- toy
/// --minibatch-ot`, seeds 0 and 1): teacher 32 steps 0.089 / 0.085, teacher 1 step 0.106 /
/// 0.098 (without OT: 0.072 / 0.073 and 0.453 / 0.450). The coupling ignores the condition,
/// which costs the many-step teacher a little.
#[test]
fn minibatch_ot_straightens_the_teachers_paths() {
    let r = run(&ToyOptions {
        minibatch_ot: true,
        student_epochs: 1,
        ..Default::default()
    })
    .unwrap();
    eprintln!("{r:?}");
    assert!(r.teacher_n < 0.15, "the OT teacher did not learn: {r:?}");
    assert!(
        r.teacher_1 < 0.2,
        "one-step OT teacher should be near the data: {r:?}"
    );
}
