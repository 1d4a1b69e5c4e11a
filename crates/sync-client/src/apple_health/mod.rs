//! Apple Health export import: the running workouts of `export.xml`, read as a stream (from the
//! file or straight out of `export.zip`), so a 1 GB export never sits in memory.
//!
//! Both ways Apple has written a workout's totals are read:
//!
//! - the older attributes, `totalDistance="5.1" totalDistanceUnit="km"` and
//!   `totalEnergyBurned="350" totalEnergyBurnedUnit="kcal"`;
//! - the newer children, `<WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning"
//!   sum="3.1" unit="mi"/>` and `…ActiveEnergyBurned`, which win when both are present (and
//!   `…HeartRate` with `average`/`maximum`, when present).
//!
//! Units are converted (distance: m, km, mi, ft, yd, cm, mm; energy: kcal, Cal, kJ, cal, J;
//! duration: s, min, hr, ms, d), Apple's dates (`2024-01-15 08:00:00 +0100`) are read with
//! their offset, and each workout gets a stable client id (exports carry no UUID): a hash of
//! its type, source, start and end, so importing the same export twice does not duplicate.
//! Every workout is checked with the server's own validation (`sync_core::validate_workout`).
//! A `Workout` element that cannot be read is counted and skipped, never fatal.
//!
//! ```
//! use sync_client::apple_health::{ExportItem, WorkoutReader};
//! let xml = r#"<HealthData>
//!   <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="35" durationUnit="min"
//!     totalDistance="5.1" totalDistanceUnit="km" sourceName="Apple Watch"
//!     startDate="2024-01-15 08:00:00 +0100" endDate="2024-01-15 08:35:00 +0100"/>
//! </HealthData>"#;
//! let items: Vec<_> = WorkoutReader::new(xml.as_bytes()).collect();
//! let Ok(ExportItem::Running(run)) = &items[0] else { panic!("{items:?}") };
//! assert_eq!(run.content.distance_meters, 5100.0);
//! assert_eq!(run.content.duration_seconds, 2100);
//! ```

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use sync_core::ValidWorkout;

use crate::cache::{Cache, SaveOutcome};
use crate::error::{CacheError, ImportError};

// `reader` turns the XML into workouts, `values` reads the attributes' dates, numbers and units.
mod reader;
mod values;

pub use reader::{ExportItem, WorkoutReader, XmlError};

/// The activity type imported.
pub const RUNNING: &str = "HKWorkoutActivityTypeRunning";
/// How many reasons for malformed workouts a report keeps.
pub const MAX_REASONS: usize = 5;
/// Workouts saved per cache transaction.
const SAVE_CHUNK: usize = 500;
/// How often (in bytes of XML) the progress callback is called.
const PROGRESS_STEP: u64 = 1 << 20;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Running workouts read.
    pub running: usize,
    /// Of those, new to the cache (queued for sync).
    pub inserted: usize,
    /// Changed since the last import (queued for sync).
    pub changed: usize,
    /// Already in the cache as they are.
    pub unchanged: usize,
    /// Deleted in the cache (here or on the server) and left deleted.
    pub kept_deleted: usize,
    /// Workouts of other types, skipped.
    pub other_workouts: usize,
    /// `Workout` elements that could not be read, skipped.
    pub malformed: usize,
    /// The first [`MAX_REASONS`] reasons, with positions.
    pub malformed_reasons: Vec<String>,
    /// Where and why the XML broke off, when it did; the workouts before it were imported.
    pub xml_error: Option<String>,
    /// Bytes of XML read.
    pub bytes_read: u64,
}

/// How far an import has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Bytes of XML read so far.
    pub bytes_read: u64,
    /// Size of the XML, when known.
    pub total_bytes: Option<u64>,
}

/// Imports an Apple Health export (`export.zip` or `export.xml`) into the cache.
/// `progress` is called every megabyte or so.
pub fn import_path(
    path: &Path,
    cache: &Cache,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 4];
    let is_zip = match file.read_exact(&mut magic) {
        Ok(()) => &magic == b"PK\x03\x04",
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(io(e)),
    };
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if !is_zip {
        let total = file.metadata().map(|m| m.len()).ok();
        return Ok(import_reader(file, total, cache, progress)?);
    }
    let zip_error = |e: zip::result::ZipError| ImportError::Zip {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_error)?;
    let index = export_entry(&archive).ok_or_else(|| ImportError::NoExportXml {
        path: path.to_owned(),
    })?;
    let entry = archive.by_index(index).map_err(zip_error)?;
    let total = Some(entry.size());
    Ok(import_reader(entry, total, cache, progress)?)
}

/// The index of `export.xml` in an archive: `apple_health_export/export.xml`, else any
/// `export.xml` (never `export_cda.xml`).
fn export_entry<R: Read + Seek>(archive: &zip::ZipArchive<R>) -> Option<usize> {
    let names: Vec<&str> = archive.file_names().collect();
    let pick = names
        .iter()
        .find(|n| **n == "apple_health_export/export.xml")
        .or_else(|| {
            names
                .iter()
                .find(|n| **n == "export.xml" || n.ends_with("/export.xml"))
        })?;
    archive.index_for_name(pick)
}

/// Imports the export XML read from `source` (of `total_bytes`, when known) into the cache.
/// `progress` is called every megabyte read, and once at the end of the input.
pub fn import_reader<R: Read>(
    source: R,
    total_bytes: Option<u64>,
    cache: &Cache,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, CacheError> {
    let counted = ProgressRead {
        inner: source,
        read: 0,
        next: PROGRESS_STEP,
        total: total_bytes,
        finished: false,
        callback: progress,
    };
    let mut report = ImportReport::default();
    let mut items = WorkoutReader::new(BufReader::with_capacity(256 * 1024, counted));
    let mut chunk: Vec<ValidWorkout> = Vec::with_capacity(SAVE_CHUNK);
    let save = |chunk: &mut Vec<ValidWorkout>, report: &mut ImportReport| {
        for outcome in cache.save_all(chunk)? {
            match outcome {
                SaveOutcome::Inserted => report.inserted += 1,
                SaveOutcome::Changed => report.changed += 1,
                SaveOutcome::Unchanged => report.unchanged += 1,
                SaveOutcome::KeptDeleted => report.kept_deleted += 1,
            }
        }
        chunk.clear();
        Ok::<(), CacheError>(())
    };
    for item in items.by_ref() {
        match item {
            Ok(ExportItem::Running(workout)) => {
                report.running += 1;
                chunk.push(*workout);
                if chunk.len() >= SAVE_CHUNK {
                    save(&mut chunk, &mut report)?;
                }
            }
            Ok(ExportItem::Other { .. }) => report.other_workouts += 1,
            Ok(ExportItem::Malformed { position, reason }) => {
                report.malformed += 1;
                if report.malformed_reasons.len() < MAX_REASONS {
                    report
                        .malformed_reasons
                        .push(format!("Workout at byte {position}: {reason}"));
                }
            }
            Err(e) => report.xml_error = Some(e.to_string()),
        }
    }
    save(&mut chunk, &mut report)?;
    report.bytes_read = items.position();
    Ok(report)
}

/// Counts the bytes read from the export and reports them every [`PROGRESS_STEP`] bytes and
/// at the end, whatever the XML holds between two workouts (records come first in exports).
struct ProgressRead<R, F> {
    inner: R,
    read: u64,
    next: u64,
    total: Option<u64>,
    finished: bool,
    callback: F,
}

impl<R: Read, F: FnMut(ImportProgress)> Read for ProgressRead<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let at_end = n == 0 && !buf.is_empty() && !self.finished;
        if at_end || self.read >= self.next {
            self.finished |= at_end;
            self.next = self.read + PROGRESS_STEP;
            (self.callback)(ImportProgress {
                bytes_read: self.read,
                total_bytes: self.total,
            });
        }
        Ok(n)
    }
}
