use super::*;

fn checked(path: &str) -> crate::Checked {
    crate::check_file(std::path::Path::new(&format!(
        "{}/{path}",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap_or_else(|d| panic!("{path}: {}", d.render()))
}

fn offline(c: &crate::Checked) -> Vec<Flow> {
    prove(&c.topology, &World::new(&c.expansion, None))
}

#[test]
fn print_example_flows() {
    for f in offline(&checked("topology.example.yaml")) {
        eprintln!("{}", f.headline());
        for h in &f.hops {
            eprintln!(
                "   {} | {} {} {} -> {:?}",
                h.step, h.principal, h.action, h.resource, h.outcome
            );
        }
    }
}
