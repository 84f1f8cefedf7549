/// Why an upload or a metadata file was refused. The variant picks the
/// status code; the message (a full sentence, shown to the user) names the
/// problem.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Wrong magic: not the kind of file it claims to be (not an ar archive,
    /// or an ar archive that is not a Debian package).
    #[error("{0}")]
    NotAnArchive(String),
    /// The file ends early: cut inside a header or a member.
    #[error("{0}")]
    Truncated(String),
    /// Something is over a configured limit, typically a member that
    /// decompresses past it (a decompression bomb).
    #[error("{0}")]
    TooLarge(String),
    /// Well-formed container, bad content: corrupt compressed data, a
    /// malformed or hostile control file, a missing required field, an
    /// invalid name, version or architecture.
    #[error("{0}")]
    Invalid(String),
    /// The upload's file name has characters this format's clients or
    /// tools would have to escape (a bad request, not a bad package).
    #[error("{0}")]
    FileName(String),
    /// Reading the input failed (disk, network); not the uploader's fault.
    #[error("I/O error while reading the package: {0}")]
    Io(#[from] std::io::Error),
}
