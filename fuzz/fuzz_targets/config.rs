//! The `sizegate.toml` parser: any text gives a config or errors that
//! name a line inside the file, and a parsed config can be used (globs
//! matched, budgets described, serialized).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sizegate_gate::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "sizegate.toml") {
        Ok(config) => {
            for target in ["x86_64-unknown-linux-gnu/app", "", "a/b/c", text] {
                if let Some((index, budget)) = config.budget_for(target) {
                    assert!(index < config.budgets.len());
                    let _ = budget.describe();
                }
            }
            serde_json::to_string(&config).expect("a config serializes");
        }
        Err(errors) => {
            let lines = text.lines().count().max(1);
            for error in &errors.0 {
                let message = error.to_string();
                assert!(!message.is_empty());
                if let Some(line) = error.line {
                    assert!(
                        line >= 1 && line <= lines + 1,
                        "line {line} of {lines}: {message}"
                    );
                }
            }
        }
    }
});
