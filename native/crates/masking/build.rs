// Links Hyperscan from Debian's libhyperscan-dev (pkg-config name `libhs`, 5.4.0). Not vectorscan:
// its 5.4.9 build was seen to miss stream-mode matches at chunk boundaries.
fn main() {
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("5.4.0")
        .probe("libhs")
    {
        panic!(
            "Hyperscan not found ({e}). Install Debian's libhyperscan-dev (apt-get install libhyperscan-dev) \
             or run scripts/setup.sh, which does it for you."
        );
    }
}
