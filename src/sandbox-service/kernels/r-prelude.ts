/**
 * Run silently in every R kernel as it starts (language-snippets.ts): a data frame (or matrix,
 * or tibble) shown as a result also carries a table for the MCP viewer, under the Python
 * prelude's MIME type and in its shape: columns with their R class, the row count, the first
 * rows; a longer frame is saved whole (gzipped columnar JSON) under ~/.results/, where the
 * viewer's result_page reads it page by page (src/mcp-server/apps/). IRkernel asks repr's
 * `mime2repr` for each MIME type in `jupyter.display_mimetypes`, so adding ours there is the
 * whole hook. IRkernel sends a repr's text as a string: the MCP side parses it.
 *
 * A string rather than a file beside the module (as python-prelude.py is), so the bundles need
 * no new asset; R and JSON share their string escapes, so nothing here needs quoting.
 */
export const R_PRELUDE = `local({
  mime <- "application/vnd.fc-code-interpreter.table+json"
  first_rows <- 50L
  max_cells <- 5000000
  files_kept <- 20L
  # na = "null" also makes Inf and NaN null (they are not JSON), as the Python prelude sends them.
  json <- function(x, ...) jsonlite::toJSON(x, na = "null", digits = NA, Date = "ISO8601", POSIXt = "ISO8601", factor = "string", null = "null", ...)
  save_table <- function(frame) {
    home <- Sys.getenv("HOME", getwd())
    folder <- file.path(home, ".results")
    dir.create(folder, recursive = TRUE, showWarnings = FALSE)
    saved <- list.files(folder, pattern = "[.]json[.]gz$", full.names = TRUE)
    if (length(saved) >= files_kept) {
      saved <- saved[order(file.mtime(saved))]
      unlink(saved[seq_len(length(saved) - files_kept + 1L)])
    }
    rows <- min(nrow(frame), max_cells %/% max(ncol(frame), 1L))
    part <- frame[seq_len(rows), , drop = FALSE]
    columns <- lapply(names(frame), function(name) list(name = name, dtype = class(frame[[name]])[[1]]))
    text <- paste0('{"columns":', json(columns, auto_unbox = TRUE), ',"data":', json(unname(as.list(part))), '}')
    # tempfile's names are random without R's generator: a shown table must not move the user's set.seed() stream.
    name <- paste0(substr(paste0(basename(tempfile("")), basename(tempfile("")), strrep("0", 32L)), 1L, 32L), ".json.gz")
    out <- gzfile(file.path(folder, name), "wb", compression = 1L)
    on.exit(close(out))
    writeChar(text, out, eos = NULL, useBytes = TRUE)
    list(file = paste0(".results/", name), rows = rows)
  }
  table_repr <- function(obj, ...) {
    if (!is.data.frame(obj) && !is.matrix(obj)) return(NULL)
    tryCatch({
      frame <- as.data.frame(obj, stringsAsFactors = FALSE)
      if (!is.null(attr(obj, "row.names")) && is.character(attr(obj, "row.names"))) frame <- cbind(data.frame(row = rownames(frame)), frame)
      columns <- lapply(names(frame), function(name) list(name = name, dtype = class(frame[[name]])[[1]]))
      head <- frame[seq_len(min(nrow(frame), first_rows)), , drop = FALSE]
      table <- list(columns = columns, row_count = nrow(frame), rows = if (ncol(frame) == 0L) list() else unname(lapply(seq_len(nrow(head)), function(i) unname(lapply(head, function(column) column[[i]])))))
      if (nrow(frame) > first_rows) {
        saved <- save_table(frame)
        table$file <- saved$file
        table$saved_rows <- saved$rows
      }
      as.character(json(table, auto_unbox = TRUE))
    }, error = function(e) NULL)
  }
  reprs <- repr::mime2repr
  reprs[[mime]] <- table_repr
  utils::assignInNamespace("mime2repr", reprs, "repr")
  options(jupyter.display_mimetypes = union(getOption("jupyter.display_mimetypes"), mime))
})
invisible(NULL)`;
