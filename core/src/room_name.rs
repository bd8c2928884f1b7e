//! Room names: the room's only secret.
//!
//! Generated names are 12 words from a 2048-word list (132 bits), joined by `-`: easy to read
//! aloud, copy or type, and far beyond guessing. Custom names are allowed but rated, so the UI
//! can say plainly when a name is guessable.

use crate::wordlist;

/// Words in a generated room name: 12 × 11 bits = 132 bits ≥ the 128-bit target.
pub const GENERATED_WORDS: usize = 12;
/// Bits of entropy each list word carries (2048 = 2^11 words).
pub const BITS_PER_WORD: u32 = 11;
/// Random bytes [`generate`] needs (12 × 11 = 132 bits → 17 bytes).
pub const GENERATE_ENTROPY_LEN: usize = 17;
/// Longest room name accepted, in bytes: long enough for any passphrase, short enough that a
/// pasted document does not end up as a URL fragment.
pub const MAX_ROOM_NAME_LEN: usize = 256;
/// Entropy target for a name to be called strong.
pub const STRONG_BITS: u32 = 128;
/// A custom name that is not in the generated format counts as strong only if it is at least
/// this long, mixes at least [`MIN_CLASSES_FOR_RANDOM`] character classes and has no spaces:
/// the shape of a password manager's output, not of a phrase a person thought of.
const MIN_RANDOM_LEN: usize = 32;
const MIN_CLASSES_FOR_RANDOM: usize = 3;

/// Why a typed room name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    #[error("enter a room name")]
    Empty,
    #[error("a room name can be at most {MAX_ROOM_NAME_LEN} bytes")]
    TooLong,
    #[error("a room name cannot contain control characters")]
    ControlChar,
}

/// How hard a room name is to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// In the generated format, with this many bits.
    Strong { bits: u32 },
    /// Long and random-looking; no reliable estimate, but not a phrase.
    Random,
    /// Anyone who guesses it can join and read everything.
    Weak,
}

/// Makes a new room name from 17 random bytes.
pub fn generate(entropy: &[u8; GENERATE_ENTROPY_LEN]) -> String {
    let mut words = Vec::with_capacity(GENERATED_WORDS);
    for i in 0..GENERATED_WORDS {
        // Take bits [11i, 11i + 11) of the entropy, big-endian.
        let bit = i * BITS_PER_WORD as usize;
        let mut v: u32 = 0;
        for b in 0..BITS_PER_WORD as usize {
            let pos = bit + b;
            let set = (entropy[pos / 8] >> (7 - pos % 8)) & 1;
            v = (v << 1) | u32::from(set);
        }
        // Words are distinct (a repeat would read as a weaker name): a repeat takes the next
        // unused word. Twelve distinct words of 2048 are still log2(2048!/2036!) ≈ 131.6 bits.
        let mut w = wordlist::word(v as usize);
        while words.contains(&w) {
            v = (v + 1) % wordlist::COUNT as u32;
            w = wordlist::word(v as usize);
        }
        words.push(w);
    }
    words.join("-")
}

/// Trims and checks a typed name (shells first bring it to Unicode NFC: the browser with its
/// own `normalize`, so no tables weigh on the wasm); a name made only of list words is
/// normalised to the
/// generated form (lowercase, `-` between words) so "Abandon ability …" read aloud and typed
/// with spaces still lands in the same room.
pub fn normalize(input: &str) -> Result<String, RoomNameError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if t.len() > MAX_ROOM_NAME_LEN {
        return Err(RoomNameError::TooLong);
    }
    if t.chars().any(char::is_control) {
        return Err(RoomNameError::ControlChar);
    }
    let words: Vec<String> = t
        .split(|c: char| c == '-' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        // The list is ASCII, so ASCII folding finds every list word; full Unicode folding would
        // only add look-alikes (the Kelvin sign folds to "k") and its tables to the wasm.
        .map(str::to_ascii_lowercase)
        .collect();
    if words.len() >= 2 && words.iter().all(|w| is_word(w)) {
        return Ok(words.join("-"));
    }
    Ok(t.to_owned())
}

fn is_word(w: &str) -> bool {
    wordlist::contains(w)
}

/// Repeated words a generated name may have and still count as strong. A generated name
/// repeats a word about once in thirty names; one repeat still leaves 121 bits, far beyond
/// guessing, while a name a person built from repeats ("cat cat cat …") is weak.
const TOLERATED_REPEATS: u32 = 1;

/// Rates a (normalised) room name. A name of list words is worth what its *distinct* words
/// are worth: twelve copies of one word are 11 bits, not 132.
pub fn strength(name: &str) -> Strength {
    let words: Vec<&str> = name.split('-').collect();
    if words.iter().all(|w| is_word(w)) {
        // Quadratic, over at most a few dozen words: cheaper in the wasm than a sort.
        let distinct = (0..words.len())
            .filter(|&i| !words[..i].contains(&words[i]))
            .count();
        let bits = distinct as u32 * BITS_PER_WORD;
        return if bits >= STRONG_BITS.saturating_sub(TOLERATED_REPEATS * BITS_PER_WORD) {
            Strength::Strong { bits }
        } else {
            Strength::Weak
        };
    }
    let classes = [
        name.chars().any(|c| c.is_ascii_lowercase()),
        name.chars().any(|c| c.is_ascii_uppercase()),
        name.chars().any(|c| c.is_ascii_digit()),
        name.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    let has_space = name.chars().any(char::is_whitespace);
    if name.chars().count() >= MIN_RANDOM_LEN && classes >= MIN_CLASSES_FOR_RANDOM && !has_space {
        Strength::Random
    } else {
        Strength::Weak
    }
}

/// Words of a room name shown as its short label: enough to tell rooms apart at a glance,
/// too few to give the name away to someone looking over a shoulder.
pub const LABEL_WORDS: usize = 2;
/// Characters of a custom room name shown as its short label.
pub const LABEL_CHARS: usize = 12;

/// A short label for a (normalised) room name: its first words for a name of words
/// ("abandon-ability-…"), else its first characters.
pub fn short_label(name: &str) -> String {
    let words: Vec<&str> = name.split('-').collect();
    if words.len() > LABEL_WORDS && words.iter().all(|w| is_word(w)) {
        return format!("{}-…", words[..LABEL_WORDS].join("-"));
    }
    if name.chars().count() > LABEL_CHARS {
        let head: String = name.chars().take(LABEL_CHARS).collect();
        return format!("{head}…");
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordlist_has_2048_distinct_short_words_in_order() {
        let words: Vec<&str> = wordlist::words().collect();
        assert_eq!(words.len(), wordlist::COUNT);
        assert!(words.windows(2).all(|w| w[0] < w[1]));
        assert!(words
            .iter()
            .all(|w| (3..=8).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase())));
        assert_eq!((words[0], words[2047]), ("abandon", "zoo"));
        assert_eq!(wordlist::word(2048), "abandon");
    }

    #[test]
    fn generated_names_have_132_bits_and_round_trip() {
        let mut entropy = [0u8; GENERATE_ENTROPY_LEN];
        for (i, b) in entropy.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(5);
        }
        let name = generate(&entropy);
        assert_eq!(name.split('-').count(), GENERATED_WORDS);
        assert_eq!(strength(&name), Strength::Strong { bits: 132 });
        assert_eq!(normalize(&name).unwrap(), name);
        // Different entropy, different name: every byte matters.
        let mut e = entropy;
        e[16] ^= 0x10;
        assert_ne!(generate(&e), name);
        // All-zero entropy picks word 0 twelve times: the repeats move to the next words.
        assert_eq!(
            generate(&[0; GENERATE_ENTROPY_LEN]),
            "abandon-ability-able-about-above-absent-absorb-abstract-absurd-abuse-access-accident"
        );
    }

    #[test]
    fn typed_word_names_normalise_to_the_generated_form() {
        let name = generate(&[0x3c; GENERATE_ENTROPY_LEN]);
        let spoken = name.replace('-', " ").to_uppercase();
        assert_eq!(normalize(&format!("  {spoken} ")).unwrap(), name);
    }

    #[test]
    fn only_ascii_letters_fold_into_list_words() {
        assert_eq!(normalize("Key KITE").unwrap(), "key-kite");
        // The Kelvin sign (U+212A) looks like "K" but is not one: the name stays as typed.
        assert_eq!(normalize("\u{212A}ey kite").unwrap(), "\u{212A}ey kite");
    }

    #[test]
    fn custom_names_are_rated() {
        assert_eq!(strength("team-meeting"), Strength::Weak);
        assert_eq!(strength("my secret place for friends 2026"), Strength::Weak);
        assert_eq!(strength("abandon-ability"), Strength::Weak);
        assert_eq!(
            strength("Xq7#kP2m9Lr4vT8wZ1nB6cH3jF5gD0sA"),
            Strength::Random
        );
        assert_eq!(normalize("Team Meeting").unwrap(), "Team Meeting");
    }

    /// Invariant: a generated name never repeats a word, so it is always rated strong (one
    /// with two repeats was rated weak and made its creator's link ask for confirmation).
    #[test]
    fn generated_names_never_repeat_a_word() {
        // Entropy whose 11-bit groups are all equal: every word would be the same.
        let same = [0u8; GENERATE_ENTROPY_LEN];
        let name = generate(&same);
        let words: Vec<&str> = name.split('-').collect();
        for (i, w) in words.iter().enumerate() {
            assert!(!words[..i].contains(w), "{name}");
        }
        assert_eq!(strength(&name), Strength::Strong { bits: 132 });
    }

    /// Invariant: repeating list words adds nothing to a name's strength.
    #[test]
    fn repeated_words_are_counted_once() {
        let twelve = ["kite"; 12].join("-");
        assert_eq!(strength(&twelve), Strength::Weak);
        // One repeat in a twelve-word name is still strong, two are not.
        let distinct: Vec<&str> = wordlist::words().skip(100).take(12).collect();
        let mut one = distinct.clone();
        one[11] = one[0];
        assert_eq!(strength(&one.join("-")), Strength::Strong { bits: 121 });
        let mut two = one.clone();
        two[10] = two[1];
        assert_eq!(strength(&two.join("-")), Strength::Weak);
        assert_eq!(
            strength(&distinct.join("-")),
            Strength::Strong { bits: 132 }
        );
    }

    #[test]
    fn bad_names_are_rejected() {
        assert_eq!(normalize("   "), Err(RoomNameError::Empty));
        assert_eq!(normalize(&"a".repeat(300)), Err(RoomNameError::TooLong));
        assert_eq!(normalize("a\u{0}b"), Err(RoomNameError::ControlChar));
    }

    #[test]
    fn short_labels_show_the_start_only() {
        let generated = generate(&[7; GENERATE_ENTROPY_LEN]);
        let label = short_label(&generated);
        let first_two: Vec<&str> = generated.split('-').take(LABEL_WORDS).collect();
        assert_eq!(label, format!("{}-…", first_two.join("-")));
        assert_eq!(short_label("Café night"), "Café night");
        assert_eq!(short_label("a very long custom room name"), "a very long …");
    }
}
