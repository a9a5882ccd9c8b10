// Copies GOV.UK Frontend's built files into search_api/web/static/govuk (gitignored), where
// FastAPI serves them at /static/govuk. Run by scripts/bootstrap.sh after `npm ci`; idempotent.
//   node search_api/web/build-assets.mjs
// The precompiled CSS refers to /assets/...; the copy points it at /static/govuk/assets/...
// Nothing is fetched at run time.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..', '..')
const dist = join(root, 'node_modules', 'govuk-frontend', 'dist', 'govuk')
const target = join(here, 'static', 'govuk')
const url = '/static/govuk/assets/'

if (!existsSync(join(dist, 'govuk-frontend.min.css'))) {
  console.error(`error: ${dist} not found: run npm ci in ${root} first`)
  process.exit(1)
}
const version = JSON.parse(readFileSync(join(root, 'node_modules', 'govuk-frontend', 'package.json'), 'utf8')).version
const stamp = join(target, 'VERSION')
if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === version) {
  console.log(`GOV.UK Frontend ${version} assets are up to date in ${target}`)
  process.exit(0)
}

const tmp = `${target}.tmp-${process.pid}`
rmSync(tmp, { recursive: true, force: true })
mkdirSync(tmp, { recursive: true })
const css = readFileSync(join(dist, 'govuk-frontend.min.css'), 'utf8')
  .replaceAll('url(/assets/', `url(${url}`)
  .replace(/\/\*# sourceMappingURL=.*?\*\//, '')
writeFileSync(join(tmp, 'govuk-frontend.min.css'), css)
const js = readFileSync(join(dist, 'govuk-frontend.min.js'), 'utf8')
  .replace(/\/\/# sourceMappingURL=\S+\s*$/, '')
writeFileSync(join(tmp, 'govuk-frontend.min.js'), js)
for (const dir of ['fonts', 'images']) {
  cpSync(join(dist, 'assets', dir), join(tmp, 'assets', dir), { recursive: true })
}
cpSync(join(dist, 'assets', 'manifest.json'), join(tmp, 'assets', 'manifest.json'))
writeFileSync(join(tmp, 'VERSION'), `${version}\n`)
rmSync(target, { recursive: true, force: true })
renameSync(tmp, target)
console.log(`GOV.UK Frontend ${version} assets copied to ${target}`)
