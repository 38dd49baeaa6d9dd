// Files the page hands the browser: a chart as PNG, the dashboard as JSON. (A widget's data
// as CSV or JSON is the server's: /data?widget=<id>&format=csv.)

export function download(name, type, content) {
  const a = document.createElement("a");
  a.download = name;
  // A data: URL or a path is a link already; anything else is the file's content.
  const link = content.startsWith("data:") || content.startsWith("/");
  a.href = link ? content : URL.createObjectURL(new Blob([content], { type }));
  document.body.append(a);
  a.click();
  a.remove();
  if (!link) setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
