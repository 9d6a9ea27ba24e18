//! Test support for tandem: the lab (`tandem-lab`), and the end-to-end tests that use it.

pub mod built;
pub mod lab;
pub mod ovh_sim;
