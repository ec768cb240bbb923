//! Build script: links the addon against Node's N-API.
fn main() {
    napi_build::setup();
}
