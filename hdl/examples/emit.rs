fn main() {
    let name = std::env::args().nth(1).unwrap_or("tiny".into());
    let a = tern_arch::AccelConfig::preset(&name).unwrap().validate().unwrap();
    print!("{}", tern_hdl::emit(&a));
}
