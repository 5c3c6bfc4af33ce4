fn main() {
    for c in fluxrs_api::crds::all() {
        print!("{}", fluxrs_api::crds::to_yaml(&c));
    }
}
