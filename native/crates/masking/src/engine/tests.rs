use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::entities::{builtin, builtin_names};

fn engine(style: Style) -> Engine {
    let mut e = Engine::with_defaults(style);
    e.key = b"test key".to_vec();
    e
}

fn mask(e: &Engine, s: &str) -> String {
    let mut scratch = e.new_scratch();
    let mut counts = vec![0; e.len()];
    String::from_utf8(e.mask(&mut scratch, s.as_bytes(), &mut counts).unwrap()).unwrap()
}

fn detected(e: &Engine, s: &str) -> Vec<(String, String)> {
    let mut scratch = e.new_scratch();
    let names = e.entity_names();
    e.detect(&mut scratch, s.as_bytes())
        .unwrap()
        .iter()
        .map(|f| {
            (
                names[f.entity as usize].to_string(),
                s[f.start..f.end].to_string(),
            )
        })
        .collect()
}

fn stream_mask(e: &Arc<Engine>, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u32>) {
    let mut s = MaskStream::new(Arc::clone(e)).unwrap();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut last = 0;
    for p in points.into_iter().chain([input.len()]) {
        s.write(&input[last..p], &mut out).unwrap();
        last = p;
    }
    s.finish(&mut out).unwrap();
    (out, s.counts().to_vec())
}

const SAMPLE: &str = "id,name,email,card,ssn,note\n\
1,Ann,ann.lee+tag@mail.example.co.uk,4111 1111 1111 1111,123-45-6789,ok\n\
2,Bob,bob@example.com,5500-0000-0000-0004,078-05-1120,\"call (415) 555-2671 or +14155552671\"\n\
{\"iban\":\"GB82 WEST 1234 5698 7654 32\",\"compact\":\"DE89370400440532013000\",\"aba\":\"021000021\"}\n\
2024-05-06T12:30:45.123Z INFO from 10.1.2.3 and 2001:db8::ff00:42:8329 version 1.2.3.4 order 1234567812345678\n\
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
Authorization: Bearer abcdefghijklmnop0123456789 and eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n\
-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc\n-----END RSA PRIVATE KEY-----\n\
not pii: 000-12-3456 666-12-3456 4111 1111 1111 1112 DE89370400440532013001 021000022 v1.2.3.4 12:30:45\n";

#[test]
fn finds_every_builtin_entity_in_the_sample() {
    let e = engine(Style::Full);
    let d = detected(&e, SAMPLE);
    let got = |n: &str| {
        d.iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(got("card"), ["4111 1111 1111 1111", "5500-0000-0000-0004"]);
    assert_eq!(got("ssn"), ["123-45-6789", "078-05-1120"]);
    assert_eq!(
        got("email"),
        ["ann.lee+tag@mail.example.co.uk", "bob@example.com"]
    );
    assert_eq!(got("phone"), ["(415) 555-2671", "+14155552671"]);
    assert_eq!(
        got("iban"),
        ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"]
    );
    assert_eq!(got("aba_routing"), ["021000021"]);
    assert_eq!(got("ipv4"), ["10.1.2.3"]);
    assert_eq!(got("ipv6"), ["2001:db8::ff00:42:8329"]);
    assert_eq!(got("aws_access_key"), ["AKIAIOSFODNN7EXAMPLE"]);
    assert_eq!(
        got("aws_secret_key"),
        ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]
    );
    assert_eq!(got("bearer_token"), ["abcdefghijklmnop0123456789"]);
    assert_eq!(got("jwt").len(), 1);
    assert_eq!(got("private_key").len(), 1);
    assert!(got("private_key")[0].starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(got("private_key")[0].ends_with("-----END RSA PRIVATE KEY-----"));
    assert_eq!(d.len(), 18, "{d:#?}");
}

/// A JWT sent as a bearer token is reported as a JWT where that entity is wanted, and is still
/// masked as a bearer token where it is not: in a configuration without `jwt`, or in a column
/// scanned for bearer tokens only.
#[test]
fn a_jwt_after_bearer_is_masked_whichever_of_the_two_is_wanted() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
    let text = format!("GET / HTTP/1.1\r\nAuthorization: Bearer {jwt}\r\n\r\n");
    let with = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let list = Engine::configure(&names, &|_| Style::Full, &[]).unwrap();
        Engine::new(list, None).unwrap()
    };
    for (names, want) in [
        (&["jwt", "bearer_token"][..], "jwt"),
        (&["bearer_token", "jwt"][..], "jwt"),
        (&["bearer_token"][..], "bearer_token"),
        (&["jwt"][..], "jwt"),
    ] {
        let e = with(names);
        assert_eq!(
            detected(&e, &text),
            [(want.to_string(), jwt.to_string())],
            "{names:?}"
        );
        assert!(mask(&e, &text).contains(&format!("Bearer [REDACTED:{want}]\r\n")));
    }
    // a column scanned for bearer tokens only, with `jwt` configured for other columns
    let e = engine(Style::Full);
    let bearer = e.entity_index("bearer_token").unwrap();
    let mut scratch = e.new_scratch();
    let found = e
        .detect_segments(
            &mut scratch,
            text.as_bytes(),
            &[Segment {
                start: 0,
                end: text.len(),
                entities: 1 << bearer,
            }],
        )
        .unwrap();
    let spans: Vec<_> = found
        .iter()
        .map(|f| (f.entity as usize, &text[f.start..f.end]))
        .collect();
    assert_eq!(spans, [(bearer, jwt)]);
}

#[test]
fn full_mask_replaces_values_and_keeps_everything_else() {
    let e = engine(Style::Full);
    let m = mask(&e, SAMPLE);
    assert!(
        m.contains("1,Ann,[REDACTED:email],[REDACTED:card],[REDACTED:ssn],ok\n"),
        "{m}"
    );
    assert!(m.contains("Authorization: Bearer [REDACTED:bearer_token] and [REDACTED:jwt]\n"));
    assert!(
        m.contains("[REDACTED:private_key]\nnot pii: 000-12-3456 666-12-3456 4111 1111 1111 1112")
    );
    assert!(m.ends_with("DE89370400440532013001 021000022 v1.2.3.4 12:30:45\n"));
    assert!(m.contains("version 1.2.3.4 order 1234567812345678"));
}

#[test]
fn last4_and_format_keep_the_shape() {
    let e = engine(Style::Last4);
    assert_eq!(
        mask(&e, "card 4111 1111 1111 1111."),
        "card **** **** **** 1111."
    );
    let f = engine(Style::Format);
    let out = mask(&f, "ssn 123-45-6789 end");
    assert_eq!(out.len(), "ssn 123-45-6789 end".len());
    assert_ne!(out, "ssn 123-45-6789 end");
}

#[test]
fn custom_entities_regex_words_and_validator() {
    let specs = vec![
        (
            CustomSpec {
                name: "employee_id".into(),
                pattern: Some(r"\bEMP-\d{6}\b".into()),
                ..Default::default()
            },
            Style::Full,
        ),
        (
            CustomSpec {
                name: "codename".into(),
                words: Some(vec!["Bluebird".into(), "night-jar".into()]),
                case_insensitive: true,
                ..Default::default()
            },
            Style::Hash,
        ),
        (
            CustomSpec {
                name: "acct".into(),
                pattern: Some(r"\bACC\d{8}\b".into()),
                validator: Some("luhn".into()),
                ..Default::default()
            },
            Style::Full,
        ),
    ];
    let list = Engine::configure(&["email".to_string()], &|_| Style::Full, &specs).unwrap();
    let e = Engine::new(list, Some(b"k".to_vec())).unwrap();
    let m = mask(
        &e,
        "EMP-123456 met BLUEBIRD and night-jar; bluebirds no; ACC00000018 ACC00000019 x@y.io",
    );
    assert!(
        m.starts_with("[REDACTED:employee_id] met [codename:"),
        "{m}"
    );
    assert!(
        m.contains("bluebirds no; [REDACTED:acct] ACC00000019 [REDACTED:email]"),
        "{m}"
    );
    let upper = mask(&e, "BLUEBIRD");
    assert!(
        m.contains(&format!("met {upper} and")),
        "hash tokens are stable: {m}"
    );
    assert_ne!(
        upper,
        mask(&e, "bluebird"),
        "the hash is over the raw value"
    );
}

#[test]
fn invalid_configuration_names_the_entity() {
    let err = |specs: Vec<(CustomSpec, Style)>| {
        let list = Engine::configure(&[], &|_| Style::Full, &specs);
        match list {
            Err(e) => e.0,
            Ok(list) => Engine::new(list, None).err().expect("should fail").0,
        }
    };
    let e = err(vec![(
        CustomSpec {
            name: "x".into(),
            pattern: Some("a(b".into()),
            ..Default::default()
        },
        Style::Full,
    )]);
    assert!(e.starts_with("entity 'x': invalid pattern"), "{e}");
    let e = err(vec![(
        CustomSpec {
            name: "card".into(),
            pattern: Some("a".into()),
            ..Default::default()
        },
        Style::Full,
    )]);
    assert!(e.contains("taken by a built-in"), "{e}");
    // Hyperscan refuses what the Rust parser takes (a pattern that can match nothing); named too.
    let e = err(vec![(
        CustomSpec {
            name: "y".into(),
            pattern: Some("x?".into()),
            ..Default::default()
        },
        Style::Full,
    )]);
    assert!(
        e.starts_with("entity 'y': Hyperscan cannot compile the pattern"),
        "{e}"
    );
    let unknown = Engine::configure(&["passport".to_string()], &|_| Style::Full, &[])
        .err()
        .unwrap()
        .0;
    assert!(
        unknown.starts_with("unknown entity 'passport' (built-in: card, ssn"),
        "{unknown}"
    );
}

#[test]
fn values_split_across_chunks_are_masked() {
    let e = Arc::new(engine(Style::Full));
    let input = b"x 4111 1111 1111 1111 y ann@example.com z";
    let whole = mask(&e, std::str::from_utf8(input).unwrap());
    for cut in 1..input.len() {
        let (out, counts) = stream_mask(&e, input, &[cut]);
        assert_eq!(String::from_utf8(out).unwrap(), whole, "cut {cut}");
        assert_eq!(counts.iter().sum::<u32>(), 2);
    }
}

#[test]
fn stream_holds_back_only_a_bounded_tail() {
    let e = Arc::new(engine(Style::Full));
    let mut s = MaskStream::new(Arc::clone(&e)).unwrap();
    let mut out = Vec::new();
    let line = b"plain text line without anything sensitive in it at all\n";
    for _ in 0..2000 {
        s.write(line, &mut out).unwrap();
        assert!(s.held() <= e.hold_back() + line.len());
        assert!(s.buf.len() <= 2 * e.hold_back() + line.len());
    }
    s.finish(&mut out).unwrap();
    assert_eq!(out.len(), line.len() * 2000);
}

#[test]
fn datarow_masking_rewrites_lengths_and_keeps_nulls() {
    use tollgate_framing::build::data_row as row;
    let e = engine(Style::Full);
    let ssn = e.entity_index("ssn").unwrap() as u16;
    // column 1's length (0x34 = '4') precedes a card: the NUL-separated text keeps \b intact
    let card_field = format!("{}{}", "4111111111111111", " ".repeat(0x34 - 16));
    let mut chunk = Vec::new();
    chunk.extend(row(&[
        Some(b"7"),
        Some(card_field.as_bytes()),
        None,
        Some(b"secret"),
    ]));
    chunk.extend(row(&[
        Some(b"8"),
        Some(b"mail bob@example.com now"),
        Some(b"x"),
        Some(b"123456789"),
    ]));
    chunk.extend(b"C\x00\x00\x00\x0dSELECT 2\x00".iter());
    let plan = RowPlan {
        columns: vec![
            ColumnAction::Keep,
            ColumnAction::Scan(e.all_entities()),
            ColumnAction::Scan(0),
            ColumnAction::Redact(ssn),
        ],
        rest: ColumnAction::Keep,
    };
    let mut scratch = e.new_scratch();
    let mut counts = vec![0; e.len()];
    let out = e
        .mask_data_rows(&mut scratch, &chunk, &plan, &mut counts)
        .unwrap();
    let mut expect = Vec::new();
    let masked_card = format!("[REDACTED:card]{}", " ".repeat(0x34 - 16));
    expect.extend(row(&[
        Some(b"7"),
        Some(masked_card.as_bytes()),
        None,
        Some(b"[REDACTED:ssn]"),
    ]));
    expect.extend(row(&[
        Some(b"8"),
        Some(b"mail [REDACTED:email] now"),
        Some(b"x"),
        Some(b"[REDACTED:ssn]"),
    ]));
    expect.extend(b"C\x00\x00\x00\x0dSELECT 2\x00".iter());
    assert_eq!(out, expect);
    assert_eq!(counts.iter().sum::<u32>(), 4);
    // a chunk that ends inside a message is refused
    let err = e
        .mask_data_rows(&mut scratch, &chunk[..chunk.len() - 1], &plan, &mut counts)
        .unwrap_err();
    assert!(err.contains("ends inside a message"), "{err}");
    // written into a reused buffer: the same bytes; a chunk with nothing to change says so and
    // leaves the buffer empty (the caller passes the chunk on)
    let mut reused = b"left over".to_vec();
    let mut counts = vec![0; e.len()];
    assert!(e
        .mask_data_rows_into(&mut scratch, &chunk, &plan, &mut counts, &mut reused)
        .unwrap());
    assert_eq!(reused, expect);
    let mut clean = row(&[Some(b"9"), Some(b"nothing to see"), None, None]);
    clean.extend(b"C\x00\x00\x00\x0dSELECT 1\x00".iter());
    let mut counts = vec![0; e.len()];
    assert!(!e
        .mask_data_rows_into(&mut scratch, &clean, &plan, &mut counts, &mut reused)
        .unwrap());
    assert!(reused.is_empty());
    assert_eq!(counts.iter().sum::<u32>(), 0);
}

#[test]
fn every_entity_compiles_alone() {
    for n in builtin_names() {
        let d = builtin(n).unwrap();
        Engine::new(
            vec![EntityConfig {
                definition: d,
                style: Style::Full,
            }],
            None,
        )
        .unwrap();
    }
}

/// Hyperscan block mode and stream mode must report identical hits for any chunking: a hit
/// missed at a chunk boundary would be a leak.
type Hits = Vec<(usize, u32)>;

fn hs_hits_block_vs_stream(input: &[u8], cuts: &[usize]) -> (Hits, Hits) {
    let e = engine(Style::Full);
    let mut scratch = e.new_scratch();
    let mut block = Vec::new();
    e.block
        .scan(&mut scratch.hs, input, |id, end| block.push((end, id)))
        .unwrap();
    let mut st = e.stream.open_stream().unwrap();
    let mut streamed = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut last = 0;
    for p in points.into_iter().chain([input.len()]) {
        st.scan(&e.stream, &mut scratch.hs, &input[last..p], |id, end| {
            streamed.push((end, id))
        })
        .unwrap();
        last = p;
    }
    st.close(&e.stream, &mut scratch.hs, |id, end| {
        streamed.push((end, id))
    })
    .unwrap();
    block.sort_unstable();
    streamed.sort_unstable();
    (block, streamed)
}

#[test]
fn hyperscan_block_and_stream_agree_on_the_sample() {
    let input = SAMPLE.repeat(3);
    for step in [1usize, 2, 3, 7, 64, 1000] {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        let (b, s) = hs_hits_block_vs_stream(input.as_bytes(), &cuts);
        assert!(!b.is_empty());
        assert_eq!(b, s, "step {step}");
    }
}

fn sample_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("4111 1111 1111 1111".to_string()),
        Just("378282246310005".to_string()),
        Just("123-45-6789".to_string()),
        Just("bob.smith@example.com".to_string()),
        Just("GB82 WEST 1234 5698 7654 32".to_string()),
        Just("021000021".to_string()),
        Just("+14155552671".to_string()),
        Just("(415) 555-2671".to_string()),
        Just("192.168.0.1".to_string()),
        Just("fe80::1ff:fe23:4567:890a".to_string()),
        Just("AKIAIOSFODNN7EXAMPLE".to_string()),
        Just("Bearer abcdefghijklmnop0123456789".to_string()),
        Just("bearer\t \tabc.def~ghi+jkl/mno=-_9".to_string()),
        Just("Bearer abcdefghijklmno".to_string()), // one byte short
        Just("xBearer abcdefghijklmnop0123456789".to_string()),
        Just("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".to_string()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".to_string()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.".to_string()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJ.x".to_string()),
        Just("x.eyJ".to_string()),
        "(eyJ|Bearer|earer|[.]eyJ|[ \t]){1,3}",
        Just("-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA\n-----END PRIVATE KEY-----".to_string()),
        "[ a-z0-9.,:@-]{0,12}",
        "[0-9 -]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn stream_output_equals_block_output_for_any_chunking(
        pieces in proptest::collection::vec(sample_piece(), 1..30),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let input = pieces.join(" ");
        let e = Arc::new(engine(Style::Full));
        let mut scratch = e.new_scratch();
        let mut counts = vec![0; e.len()];
        let block = e.mask(&mut scratch, input.as_bytes(), &mut counts).unwrap();
        let (streamed, scounts) = stream_mask(&e, input.as_bytes(), &cuts);
        prop_assert_eq!(String::from_utf8_lossy(&streamed), String::from_utf8_lossy(&block));
        prop_assert_eq!(scounts, counts);
    }

    #[test]
    fn hyperscan_stream_matches_block_for_any_chunking(
        pieces in proptest::collection::vec(sample_piece(), 1..30),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let input = pieces.join("");
        let (b, s) = hs_hits_block_vs_stream(input.as_bytes(), &cuts);
        prop_assert_eq!(b, s);
    }

    #[test]
    fn arbitrary_bytes_pass_through_unless_masked(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let e = engine(Style::Full);
        let mut scratch = e.new_scratch();
        let mut counts = vec![0; e.len()];
        let out = e.mask(&mut scratch, &bytes, &mut counts).unwrap();
        if counts.iter().all(|c| *c == 0) {
            prop_assert_eq!(out, bytes);
        }
    }
}

#[test]
fn a_large_buffer_is_masked_window_by_window_like_a_stream() {
    // values sit across the window edges of the whole-buffer scan and of the stream's chunks
    let e = Arc::new(engine(Style::Full));
    let mut text = Vec::new();
    let mut k = 0usize;
    let mut samples = 0u32;
    while text.len() < 5 * WINDOW + 1000 {
        let edge = (text.len() / WINDOW + 1) * WINDOW;
        let line = SAMPLE.as_bytes();
        // pad so that line k starts k % 40 bytes before the next edge, then the sample
        let want = edge.saturating_sub(k % 40 + 20);
        while text.len() < want {
            text.extend_from_slice(b"filler 12:30:45 v1.2 ");
        }
        text.extend_from_slice(line);
        k += 7;
        samples += 1;
    }
    let mut scratch = e.new_scratch();
    let mut counts = vec![0; e.len()];
    let block = e.mask(&mut scratch, &text, &mut counts).unwrap();
    let (streamed, scounts) = stream_mask(&e, &text, &[65_536, 131_071, 131_073, 400_000]);
    assert!(counts.iter().sum::<u32>() > 50, "{counts:?}");
    assert_eq!(scounts, counts);
    assert!(streamed == block, "stream and whole-buffer output differ");
    // every copy of the sample is found whole, wherever the edges fell
    let mut one = vec![0; e.len()];
    e.mask(&mut scratch, SAMPLE.as_bytes(), &mut one).unwrap();
    let per: Vec<u32> = one.iter().map(|c| c * samples).collect();
    assert_eq!(counts, per);
}

fn finder_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("4111111111111111".to_string()),
        Just("4000000001047366".to_string()),
        Just("378282246310005".to_string()),
        Just("123-45-6789".to_string()),
        Just("078 05 1120".to_string()),
        Just("DE89370400440532013000".to_string()),
        Just("DE71370479632654435761".to_string()),
        Just("GB82 WEST 1234 5698 7654 32".to_string()),
        Just("DE89 3704 0044 0532 0130 00".to_string()),
        Just("GB82 WEST 1234 5698 7654 3".to_string()),
        Just("AB12 GB82 WEST 1234 5698 7654 32".to_string()),
        Just("NL91 ABNA 0417 1643 00".to_string()),
        "([A-Z]{2}[0-9]{2}|[A-Z0-9]{4})( [A-Z0-9]{1,5}){1,9}",
        Just("+1-202-555-0001".to_string()),
        Just("+1 (415) 555-2671".to_string()),
        Just("+14155552671".to_string()),
        Just("(415) 555-2671".to_string()),
        Just("415.555.2671".to_string()),
        Just("(415)555-2671".to_string()),
        Just("+00\n1001\t+1-202-555-1000".to_string()),
        Just("+1 415-555-2671".to_string()),
        Just("(415) 555 2671".to_string()),
        Just("bob.smith@example.com".to_string()),
        Just("a@b.co".to_string()),
        Just("10.1.2.3".to_string()),
        Just("255.255.255.0".to_string()),
        Just("1.256.3.04".to_string()),
        Just("v1.2.3.4.5".to_string()),
        Just("x-1@mail-1.example.co.uk".to_string()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".to_string()),
        Just("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.".to_string()),
        Just("eyJ0eXAiOiJKV1QifQ.eyJ".to_string()),
        Just("Bearer abcdefghijklmnop0123456789".to_string()),
        Just("bearer\t\t0123456789abcdef./+=~".to_string()),
        Just("Bearer abc".to_string()),
        "(eyJ|Bearer|[.]|[ \t]|[A-Za-z0-9_-]{1,6}){1,4}",
        "[0-9]{1,20}",
        "[0-9]{1,3}[.]",
        "[A-Z0-9]{1,8}",
        "[ -]{1,2}",
        "[a-z0-9.@_+()%-]{0,10}",
        "[\t\n x0+(@._A-Z-]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The native start finders answer what the reverse walk answers, at every end.
    #[test]
    fn native_starts_agree_with_the_reverse_walk(
        pieces in proptest::collection::vec(finder_piece(), 1..12),
    ) {
        let input = pieces.concat();
        let hay = input.as_bytes();
        let e = engine(Style::Full);
        let mut scratch = e.new_scratch();
        for (i, c) in e.entities.iter().enumerate() {
            if c.native.is_none() {
                continue;
            }
            for end in 0..=hay.len() {
                let lo = end.saturating_sub(c.def.max_len);
                let native = e.confirm(&mut scratch, hay, 0, i, end, 0);
                let walk = e.confirm_walk(&mut scratch, hay, lo, i, end);
                prop_assert_eq!(native, walk, "{} ending at {} in {:?}", c.def.name, end, input);
            }
        }
        // and with the token scanner's checks, as a whole-buffer scan passes them on
        let mut reports = Vec::new();
        tokens::scan_checked(&e.tokens, hay, 0, hay.len(), |end, packed| reports.push((end, packed)));
        for (end, packed) in reports {
            let (i, checked) = ((packed & 0xff) as usize, (packed >> 8) as usize);
            let lo = end.saturating_sub(e.entities[i].def.max_len);
            let native = e.confirm(&mut scratch, hay, 0, i, end, checked);
            let walk = e.confirm_walk(&mut scratch, hay, lo, i, end);
            prop_assert_eq!(native, walk, "{} ending at {} ({}) in {:?}", e.entities[i].def.name, end, checked, input);
        }
    }
}

#[test]
fn native_finders_cover_the_builtins_only() {
    let e = engine(Style::Full);
    let native: Vec<&str> = e
        .entities
        .iter()
        .filter(|c| c.native.is_some())
        .map(|c| c.def.name.as_str())
        .collect();
    assert_eq!(
        native,
        [
            "card",
            "ssn",
            "iban",
            "email",
            "phone",
            "ipv4",
            "jwt",
            "bearer_token"
        ]
    );
    let custom = CustomSpec {
        name: "cardish".into(),
        pattern: Some(r"\d{16}".into()),
        ..Default::default()
    };
    let list = Engine::configure(&[], &|_| Style::Full, &[(custom, Style::Full)]).unwrap();
    assert!(Engine::new(list, None).unwrap().entities[0]
        .native
        .is_none());
    // a built-in name with another validator walks back as before
    let mut card = builtin("card").unwrap();
    card.validator = None;
    let list = vec![EntityConfig {
        definition: card,
        style: Style::Full,
    }];
    assert!(Engine::new(list, None).unwrap().entities[0]
        .native
        .is_none());
}
