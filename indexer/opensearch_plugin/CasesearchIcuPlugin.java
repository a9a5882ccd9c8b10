/*
 * casesearch ICU analysis plugin.
 *
 * OpenSearch does not publish its analysis-icu plugin to Maven Central, so the local node builds
 * this small stand-in at install time (see indexer/local_node.py). It registers the two token
 * filters casesearch's analysis settings use, with the same names and options as the official
 * plugin, so the same index settings work against a production cluster that has analysis-icu:
 *
 *   icu_folding     Lucene ICUFoldingFilter (case, accent and width folding), optional
 *                   "unicode_set_filter".
 *   icu_normalizer  Lucene ICUNormalizer2Filter; "name" (nfc, nfkc, nfkc_cf; default nfkc_cf),
 *                   "mode" (compose or decompose), optional "unicode_set_filter".
 *
 * Both are normalizing filters, so they may also be used in keyword normalizers.
 */
package org.casesearch.opensearch.icu;

import com.ibm.icu.text.FilteredNormalizer2;
import com.ibm.icu.text.Normalizer2;
import com.ibm.icu.text.UnicodeSet;
import java.util.Map;
import java.util.TreeMap;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.icu.ICUFoldingFilter;
import org.apache.lucene.analysis.icu.ICUNormalizer2Filter;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.IndexSettings;
import org.opensearch.index.analysis.AbstractTokenFilterFactory;
import org.opensearch.index.analysis.NormalizingTokenFilterFactory;
import org.opensearch.index.analysis.TokenFilterFactory;
import org.opensearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.opensearch.plugins.AnalysisPlugin;
import org.opensearch.plugins.Plugin;

public class CasesearchIcuPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        Map<String, AnalysisProvider<TokenFilterFactory>> filters = new TreeMap<>();
        filters.put("icu_folding", IcuFoldingFactory::new);
        filters.put("icu_normalizer", IcuNormalizerFactory::new);
        return filters;
    }

    /** Restricts a normalizer to the characters in "unicode_set_filter", when it is set. */
    static Normalizer2 restrict(Normalizer2 base, Settings settings) {
        String set = settings.get("unicode_set_filter");
        if (set == null || set.isEmpty()) {
            return base;
        }
        UnicodeSet unicodeSet = new UnicodeSet(set);
        unicodeSet.freeze();
        return new FilteredNormalizer2(base, unicodeSet);
    }

    public static final class IcuFoldingFactory extends AbstractTokenFilterFactory
            implements NormalizingTokenFilterFactory {
        private final Normalizer2 normalizer;

        public IcuFoldingFactory(IndexSettings indexSettings, Environment env, String name,
                                 Settings settings) {
            super(indexSettings, name, settings);
            this.normalizer = restrict(ICUFoldingFilter.NORMALIZER, settings);
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new ICUNormalizer2Filter(tokenStream, normalizer);
        }
    }

    public static final class IcuNormalizerFactory extends AbstractTokenFilterFactory
            implements NormalizingTokenFilterFactory {
        private final Normalizer2 normalizer;

        public IcuNormalizerFactory(IndexSettings indexSettings, Environment env, String name,
                                    Settings settings) {
            super(indexSettings, name, settings);
            String form = settings.get("name", "nfkc_cf");
            String mode = settings.get("mode", "compose");
            if (!"compose".equals(mode) && !"decompose".equals(mode)) {
                throw new IllegalArgumentException(
                    "icu_normalizer mode must be compose or decompose, got [" + mode + "]");
            }
            Normalizer2.Mode icuMode =
                "compose".equals(mode) ? Normalizer2.Mode.COMPOSE : Normalizer2.Mode.DECOMPOSE;
            this.normalizer = restrict(Normalizer2.getInstance(null, form, icuMode), settings);
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new ICUNormalizer2Filter(tokenStream, normalizer);
        }
    }
}
