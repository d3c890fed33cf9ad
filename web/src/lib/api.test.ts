import { describe, expect, it } from 'vitest'
import { ApiError, apiUrl, encodeVirtualPath, fieldOf } from './api'

describe('ApiError', () => {
  it('extracts the field a validation error names', () => {
    const e = new ApiError(400, 'bad_request', 'field `mounts[0].steps[1].pattern`: invalid glob: unclosed [')
    expect(e.field).toBe('mounts[0].steps[1].pattern')
    expect(e.detail).toBe('invalid glob: unclosed [')
  })
  it('keeps other messages whole', () => {
    const e = new ApiError(404, 'not_found', 'no such directory')
    expect(e.field).toBeNull()
    expect(e.detail).toBe('no such directory')
    expect(fieldOf('something else')).toBeNull()
  })
})

describe('urls', () => {
  it('skips empty query values', () => {
    expect(apiUrl('/api/search', { q: 'a b', limit: 50, label: undefined, x: '' })).toBe('/api/search?q=a+b&limit=50')
  })
  it('encodes virtual path segments', () => {
    expect(encodeVirtualPath('/documents/client work/résumé')).toBe('documents/client%20work/r%C3%A9sum%C3%A9')
    expect(encodeVirtualPath('/')).toBe('')
  })
})
