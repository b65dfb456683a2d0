//! A tiny seeded pseudo-random generator (xorshift64): the same draws for a seed on every machine,
//! so that synthetic series and load traces, and the tests that use them, never depend on luck.

/// Marsaglia's xorshift64; a seed of 0 is replaced, as 0 would stay 0.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Pareto draw of `shape` from 1: mostly near 1, now and then far above.
    pub fn pareto(&mut self, shape: f64) -> f64 {
        1.0 / (1.0 - self.uniform()).powf(1.0 / shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_numbers_and_they_spread_over_the_unit_interval() {
        let draws: Vec<f64> = {
            let mut r = XorShift::new(42);
            (0..10_000).map(|_| r.uniform()).collect()
        };
        let mut again = XorShift::new(42);
        assert!(draws.iter().all(|d| *d == again.uniform()));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert!(XorShift::new(0).next_u64() != 0);
    }
}
