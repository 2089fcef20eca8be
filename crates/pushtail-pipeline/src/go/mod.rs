pub mod case;
pub mod template;
