//! The watermark engine on real photographs: invisibility, robustness to what platforms do,
//! and no false detections.

use image::imageops;
use viewmark::simulator::attacks::{beyond_similarity_suite, standard_suite, Attack};
use viewmark::watermark::{
    coded_bits_right, detect, embed, similarity, tile_period, Key, Reference, Sighting, CODED_BITS,
    SAME_CONTENT,
};

use crate::support::marked::*;

/// The detection floor of every attack, as a fraction of the (image, attack) pairs: one
/// pair less than the measured rates, which are 100 % on every row over payload draws 0-2,
/// so a regression of two pairs on any row fails the suite. docs/watermark.md holds the
/// measured table and the targets.
const FLOOR: f64 = 0.95;

#[test]
fn marks_are_invisible() {
    let set = marked_set();
    let psnr_mean =
        set.iter().map(|(_, original, marked, _)| psnr(original, marked)).sum::<f64>() / set.len() as f64;
    let ssim_mean =
        set.iter().map(|(_, original, marked, _)| ssim(original, marked)).sum::<f64>() / set.len() as f64;
    eprintln!("mean PSNR {psnr_mean:.2} dB, mean SSIM {ssim_mean:.4} over {} images", set.len());
    assert!(psnr_mean >= 42.0, "mean PSNR {psnr_mean:.2} dB");
    assert!(ssim_mean >= 0.98, "mean SSIM {ssim_mean:.4}");
    for (name, original, marked, _) in set {
        assert_eq!(original.dimensions(), marked.dimensions(), "{name}");
    }
}

/// The marked images that do not give back their exact payload after `attack`, with the
/// coded bits read right, or whose media no longer shows the enrolled content to the binding
/// check (a genuine post would then be taken for a copied mark), checked across the
/// machine's cores.
fn misses(set: &[Marked], attack: &Attack) -> Vec<String> {
    let k = key();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = set.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = set
            .chunks(chunk)
            .map(|part| {
                let k = &k;
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|(name, original, m, p)| {
                            let attacked = attack.apply(m);
                            let found = detect(&attacked, k).filter(|d| d.payload == *p);
                            let Some(found) = found else {
                                // How close a miss came: coded bits read right at the best
                                // alignment (about half means synchronisation failed).
                                let right = coded_bits_right(&attacked, k, *p);
                                return Some(format!("{name} ({right}/{CODED_BITS} bits)"));
                            };
                            let sighting = Sighting::of(&attacked, &found.transform);
                            let shown = similarity(&Reference::of(original), &sighting);
                            (shown < SAME_CONTENT).then(|| format!("{name} (content shown {shown:.2})"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Prints the robustness table (markdown, as in docs/watermark.md) while checking floors.
#[test]
fn robustness_suite_meets_its_floors() {
    let set = marked_set();
    let n = set.len();
    let missed = misses(set, &Attack::Chain(Vec::new()));
    eprintln!("missed, clean: {missed:?}");
    let clean = n - missed.len();
    println!("| attack | exact payload recovered |\n| --- | --- |");
    println!("| none (clean) | {clean}/{n} ({} %) |", 100 * clean / n);
    assert_eq!(clean, n, "clean detection {clean}/{n}: {missed:?}");
    let mut failures = Vec::new();
    for attack in standard_suite() {
        let missed = misses(set, &attack);
        eprintln!("missed, {}: {missed:?}", attack.name());
        let hits = n - missed.len();
        println!("| {} | {hits}/{n} ({} %) |", attack.name(), 100 * hits / n);
        if (hits as f64 / n as f64) < FLOOR {
            failures.push(format!("{}: {hits}/{n}", attack.name()));
        }
    }
    assert!(failures.is_empty(), "below floor: {failures:#?}");
}

/// What the detector recovers today after the attacks it does not yet meet the 95 % floor
/// on (a strong perspective, a photo of a screen), as (image, attack) pairs: today's
/// figures (each detection starts with fresh FFT plans, so the test is deterministic), so
/// work towards their 95 % floors can only raise them. docs/watermark.md holds the
/// measured table.
const BEYOND_SIMILARITY_FLOORS: [(&str, usize); 2] = [("keystone 6%", 17), ("photo of a screen", 17)];

#[test]
fn attacks_beyond_similarity_hold_todays_floors() {
    let set = marked_set();
    let n = set.len();
    let mut below = Vec::new();
    println!("| attack | exact payload recovered |\n| --- | --- |");
    for attack in beyond_similarity_suite() {
        let name = attack.name();
        let missed = misses(set, &attack);
        eprintln!("missed, {name}: {missed:?}");
        let hits = n - missed.len();
        println!("| {name} | {hits}/{n} ({} %) |", 100 * hits / n);
        let floor = BEYOND_SIMILARITY_FLOORS.iter().find(|(row, _)| *row == name).map(|(_, f)| *f);
        match floor {
            Some(floor) if hits >= floor => {}
            Some(floor) => below.push(format!("{name}: {hits}/{n}, floor {floor}")),
            None => below.push(format!("{name}: no floor")),
        }
    }
    assert!(below.is_empty(), "below floor: {below:#?}");
}

/// A collage of two marked pictures side by side (each picture beside the one three places
/// on in the set, always another photo, 720 px high, JPEG 85) carries both creators'
/// contents: both marks are found, each showing its own content, in at least 95 % of
/// collages.
#[test]
fn both_marks_of_a_two_picture_collage_are_found() {
    use viewmark::simulator::attacks::{jpeg, side_by_side};
    use viewmark::watermark::detect_all;
    let set = marked_set();
    let n = set.len();
    let k = key();
    let mut missed = Vec::new();
    for (i, (name, original, marked, payload)) in set.iter().enumerate() {
        let (other_name, other_original, other_marked, other_payload) = &set[(i + 3) % n];
        let collage = jpeg(&side_by_side(marked, other_marked, 720), 85);
        let found = detect_all(&collage, &k);
        for (what, original, payload) in
            [(name, original, payload), (other_name, other_original, other_payload)]
        {
            let shown = found
                .iter()
                .find(|d| d.payload == *payload)
                .map(|d| similarity(&Reference::of(original), &Sighting::of(&collage, &d.transform)));
            if shown.is_none_or(|s| s < SAME_CONTENT) {
                missed.push(format!(
                    "{what} beside {} ({shown:?})",
                    if what == name { other_name } else { name }
                ));
            }
        }
        assert!(found.len() <= 2, "{name}: {} marks in a collage of two", found.len());
    }
    let hits = 2 * n - missed.len();
    println!("| two-picture collage > jpeg 85 | {hits}/{} ({} %) |", 2 * n, 100 * hits / (2 * n));
    eprintln!("missed, collage: {missed:?}");
    assert!(hits as f64 >= FLOOR * (2 * n) as f64, "{hits}/{}: {missed:#?}", 2 * n);
}

/// A filter that drops colour leaves the detector's colour mix nothing to choose from: a
/// grey picture's mix is its luma, so marked pictures turned grey and re-encoded decode.
#[test]
fn marked_pictures_turned_grey_still_decode() {
    let k = key();
    for (name, _, marked, payload) in marked_set() {
        let grey = image::DynamicImage::ImageLuma8(imageops::grayscale(marked)).to_rgb8();
        let attacked = viewmark::simulator::attacks::jpeg(&grey, 75);
        assert_eq!(detect(&attacked, &k).map(|d| d.payload), Some(*payload), "{name}");
    }
}

#[test]
fn a_wrong_key_reads_nothing() {
    let set = marked_set();
    let other = Key::from_bytes([0x42; 32]);
    for (name, _, marked, _) in set {
        assert_eq!(detect(marked, &other), None, "{name} decoded under another key");
    }
}

/// Unmarked photographs, and crops, scales and re-encodes of them: never a detection.
#[test]
fn unmarked_images_never_decode() {
    let k = key();
    // One fixture per task, spread over the machine's cores: the longest test of the suite.
    let checked: usize = std::thread::scope(|scope| {
        let k = &k;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                scope.spawn(move || {
                    FIXTURES
                        .iter()
                        .skip(worker)
                        .step_by(workers)
                        .map(|name| unmarked_samples(name, k))
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(checked, 1000);
}

/// 100 unmarked crops, mirrors and re-encodes of one fixture, none of which may decode.
fn unmarked_samples(name: &str, k: &Key) -> usize {
    let img = fixture(name);
    let (w, h) = img.dimensions();
    let mut checked = 0;
    for i in 0..100u32 {
        // A deterministic spread of crop sizes, positions and treatments.
        let cw = (w / 2 + (i * 37) % (w / 2)).max(64);
        let ch = (h / 2 + (i * 53) % (h / 2)).max(64);
        let x = (i * 97) % (w - cw + 1);
        let y = (i * 31) % (h - ch + 1);
        let mut sample = imageops::crop_imm(&img, x, y, cw, ch).to_image();
        if i % 3 == 0 {
            sample = imageops::flip_horizontal(&sample);
        }
        if i % 4 == 0 {
            sample = viewmark::simulator::attacks::jpeg(&sample, 60 + (i % 30) as u8);
        }
        assert_eq!(detect(&sample, k), None, "false detection in {name} sample {i}");
        checked += 1;
    }
    checked
}

#[test]
fn payloads_round_trip_exactly() {
    let k = key();
    let img = upscaled("hubble_deep_field.jpg", 1024);
    for payload in [0u64, u64::MAX, 0x8000_0000_0000_0001] {
        let found = detect(&embed(&img, &k, payload), &k).map(|d| d.payload);
        assert_eq!(found, Some(payload));
    }
}

/// The detector reports the tile period in the input's pixels however it got there: through
/// the working plane, through a plane resampled for a large tile (a 9:16 crop of a landscape
/// picture), or after cutting letterbox bars (a picture fitted into a tall canvas).
#[test]
fn the_reported_period_is_in_the_input_pixels() {
    let k = key();
    let img = upscaled("coffee.png", 1536);
    let marked = embed(&img, &k, 42);
    let period = tile_period(img.width() as usize, img.height() as usize) as f32;
    let cases = [
        ("as marked", Attack::Chain(Vec::new()), period),
        ("9:16 crop", Attack::AspectCrop(9, 16), period),
        ("half size", Attack::Scale(0.5), period / 2.0),
        ("letterboxed", Attack::PadInto(1080, 1920), period * 1080.0 / img.width() as f32),
    ];
    for (what, attack, expected) in cases {
        let found = detect(&attack.apply(&marked), &k).unwrap_or_else(|| panic!("{what}: not detected"));
        assert_eq!(found.payload, 42, "{what}");
        let seen = found.transform.tile_period_px;
        assert!((seen / expected - 1.0).abs() < 0.02, "{what}: period {seen}, expected {expected}");
    }
}

/// Every size the engine takes, from 256 x 256 to 8192 x 8192 and any aspect ratio in
/// between (a 256 x 8192 strip is 32:1), round trips as marked and after JPEG 75, which
/// every platform applies. Strips more elongated than 4:1 get a longer tile than an eighth
/// of their short side (`tile_period`); without it, 8:1 and beyond were not detected.
#[test]
fn every_size_and_aspect_round_trips() {
    let k = key();
    let sizes = [
        ("rocket.jpg", 256, 256),
        ("coffee.png", 1000, 5000),
        ("astronaut.png", 4096, 256),
        ("coffee.png", 8192, 1024),
        ("rocket.jpg", 256, 8192),
        ("astronaut.png", 8192, 256),
        ("hubble_deep_field.jpg", 8192, 8192),
    ];
    for (i, (name, width, height)) in sizes.into_iter().enumerate() {
        let img = imageops::resize(&fixture(name), width, height, imageops::FilterType::Triangle);
        let payload = payload_for(i);
        let marked = embed(&img, &k, payload);
        assert_eq!(marked.dimensions(), (width, height));
        let what = format!("{name} at {width}x{height}");
        assert_eq!(detect(&marked, &k).map(|d| d.payload), Some(payload), "{what}");
        let jpeg = Attack::Jpeg(75).apply(&marked);
        assert_eq!(detect(&jpeg, &k).map(|d| d.payload), Some(payload), "{what} after JPEG 75");
    }
}
