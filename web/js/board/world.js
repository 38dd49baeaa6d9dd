// The world map for map widgets, registered with ECharts once: Natural Earth's countries
// (npm world-atlas, TopoJSON, 1:110m) converted with topojson-client, each country named by
// its ISO 3166-1 alpha-2 code (npm i18n-iso-countries' code table maps the numeric ids),
// the codes tallyd counts countries by.

let loading = null;

export function worldMap(echarts) {
  if (!loading) loading = load(echarts);
  return loading;
}

async function load(echarts) {
  const [topology, codes] = await Promise.all([
    fetch("/node_modules/world-atlas/countries-110m.json").then((r) => r.json()),
    fetch("/node_modules/i18n-iso-countries/codes.json").then((r) => r.json()),
  ]);
  const alpha2 = new Map(codes.map(([a2, , numeric]) => [numeric, a2]));
  const geo = window.topojson.feature(topology, topology.objects.countries);
  for (const feature of geo.features) {
    feature.properties = { name: alpha2.get(String(feature.id).padStart(3, "0")) || feature.properties.name };
  }
  echarts.registerMap("world", geo);
}
