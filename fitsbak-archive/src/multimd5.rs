//! Several MD5 streams hashed side by side in SIMD lanes (md5-many), fed pieces
//! of any length.
//!
//! md5-many is fastest when it is given exactly its native number of lanes (8 on
//! AVX2, 16 on AVX-512) with pieces of one length, a multiple of 64 bytes: its
//! lockstep kernels. Any other shape goes through a generic scheduler several times
//! slower. So each update is cut into lockstep rounds: the pieces still holding
//! 64 bytes or more advance together by the shortest of them (rounded down to
//! whole blocks), lanes without bytes of their own hash a copy of another lane's
//! piece into a state that is thrown away, and what is left (under 64 bytes, or
//! when too few streams have bytes for lanes to pay) goes through the single-stream
//! code.

use md5_many::{Md5Many, Md5State};

/// Fewest streams with bytes for a lockstep round to beat single-stream MD5 (one
/// lane of a 16-lane round costs about a third of a single-stream block).
const LOCKSTEP_FROM: usize = 3;

/// MD5 streams hashed together.
pub struct MultiMd5 {
    engine: Md5Many,
    states: Vec<Md5State>,
}

impl MultiMd5 {
    /// The native number of lanes on this CPU.
    pub fn native_lanes() -> usize {
        Md5Many::new().lanes()
    }

    /// `streams` empty MD5 streams.
    pub fn new(streams: usize) -> Self {
        let engine = Md5Many::new();
        let lanes = engine.lanes().max(1);
        Self {
            engine,
            states: vec![Md5State::new(); streams.max(lanes).div_ceil(lanes) * lanes],
        }
    }

    /// Appends `pieces[i]` to stream `i`.
    pub fn update(&mut self, pieces: &[&[u8]]) {
        let lanes = self.engine.lanes().max(1);
        for (group, start) in pieces.chunks(lanes).zip((0..).step_by(lanes)) {
            self.update_group(group, start);
        }
    }

    fn update_group(&mut self, pieces: &[&[u8]], start: usize) {
        let lanes = self.engine.lanes().max(1);
        let mut done = vec![0usize; pieces.len()];
        loop {
            let left = |i: usize| pieces[i].len() - done[i];
            let ready: Vec<usize> = (0..pieces.len()).filter(|&i| left(i) >= 64).collect();
            if ready.len() < LOCKSTEP_FROM {
                break;
            }
            let step = ready.iter().map(|&i| left(i) & !63).min().unwrap_or(0);
            let filler = &pieces[ready[0]][done[ready[0]]..][..step];
            let states = &mut self.states[start..start + lanes];
            let mut inputs = vec![filler; lanes];
            let mut kept = Vec::new();
            for lane in 0..lanes {
                if lane < pieces.len() && left(lane) >= 64 {
                    inputs[lane] = &pieces[lane][done[lane]..][..step];
                } else {
                    // Hashes the filler into a state put back afterwards.
                    kept.push((lane, states[lane]));
                }
            }
            self.engine.update_many(states, &inputs);
            for (lane, state) in kept {
                states[lane] = state;
            }
            for &i in &ready {
                done[i] += step;
            }
        }
        for (i, piece) in pieces.iter().enumerate() {
            self.states[start + i].update(&piece[done[i]..]);
        }
    }

    /// The MD5 (lower-case hex) of stream `i`, which starts again empty.
    pub fn finish(&mut self, i: usize) -> String {
        let digest = self.states[i].finalize();
        self.states[i].reset();
        hex::encode(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn any_shape_of_pieces_gives_each_stream_its_md5() {
        let data: Vec<u8> = (0..1_200_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for streams in [1, 2, 3, 5, 8, 16, 17, 40] {
            let mut multi = MultiMd5::new(streams);
            let mut plain: Vec<Md5> = (0..streams).map(|_| Md5::new()).collect();
            let mut at = vec![0usize; streams];
            for round in 0..40 {
                let pieces: Vec<&[u8]> = (0..streams)
                    .map(|s| {
                        // Lengths that differ per stream and round, some empty,
                        // some under a block, most not a multiple of 64.
                        let len = ((s * 977 + round * 4099) % 9000) * ((s + round) % 4);
                        let piece = &data[at[s]..][..len];
                        at[s] += len;
                        piece
                    })
                    .collect();
                multi.update(&pieces);
                for (p, piece) in plain.iter_mut().zip(&pieces) {
                    p.update(piece);
                }
            }
            for (s, p) in plain.into_iter().enumerate() {
                assert_eq!(
                    multi.finish(s),
                    hex::encode(p.finalize()),
                    "{streams} streams"
                );
            }
            assert_eq!(multi.finish(0), hex::encode(Md5::digest(b"")), "reset");
        }
    }
}
